# encoding: utf-8
# The plugin's Java hot path (vendor/java/misp_enrich.jar): BatchReader reads
# the same values the plugin always looked up, straight from the Java events;
# the JNI entry point (rust/ffi src/jvm.rs) refuses a NULL engine, bad lengths
# and buffers that are not direct with a status, never a crash; a batch is
# looked up only on the thread that read it.
require_relative "../spec_helper"
require "memcached_server"
require "bigdecimal"

RSpec.describe MispEnrich::Native::JVM do
  let(:native) { MispEnrich::Native }
  let(:jvm) { MispEnrich::Native::JVM }
  let(:lookup_class) { Java::OrgMispenrichLogstash::NativeLookup }

  before(:all) { @memcached = SpecSupport::MemcachedServer.new }
  after(:all) { @memcached.stop }

  # The values the plugin looked up before the Java reader, in Ruby, as a
  # reference: strings as they are (empty ones skipped), numbers as to_s,
  # arrays depth first in order up to `max` values (no nested array opened
  # once `max` elements wait), anything else skipped.
  def reference_values(value, max)
    out = []
    stack = [value]
    until stack.empty? || out.size >= max
      v = stack.pop
      case v
      when String then out << v unless v.empty?
      when Integer, Float then out << v.to_s
      when Array then stack.concat(v.reverse) if stack.size < max
      end
    end
    out
  end

  def random_value(rng, depth = 0)
    case rng.rand(depth > 3 ? 6 : 8)
    when 0 then ""
    when 1 then "v#{rng.rand(1000)}"
    when 2 then rng.rand(-1_000_000..1_000_000)
    when 3 then rng.rand * 1e6
    when 4 then { "k" => "hash#{rng.rand(10)}" }
    when 5 then [true, false, nil][rng.rand(3)]
    else Array.new(rng.rand(6)) { random_value(rng, depth + 1) }
    end
  end

  it "reads what the plugin's Ruby path read, slot by slot, for random nested values" do
    rng = Random.new(13)
    fields = ["[a][ip]", "[b]", "[c][d][e]"]
    reader = jvm.reader(fields, %w[ip domain sha256], 5)
    events = Array.new(300) do
      data = {}
      data["a"] = { "ip" => random_value(rng) } if rng.rand < 0.8
      data["b"] = random_value(rng) if rng.rand < 0.8
      data["c"] = { "d" => { "e" => random_value(rng) } } if rng.rand < 0.8
      LogStash::Event.new(data)
    end
    batch = reader.read(events)
    want = []
    events.each_with_index do |e, i|
      fields.each_with_index do |f, fi|
        v = e.get(f)
        next if v.nil?
        reference_values(v, 5).each { |s| want << [i, fi, s] }
      end
    end
    got = Array.new(batch.size) { |s| [batch.event(s), batch.field(s), batch.value(s).to_s] }
    expect(got).to eq(want)
    expect(batch.events_with_values.to_a).to eq(want.map(&:first).uniq)
  end

  it "skips big decimals, timestamps and hashes, reads bignums and floats as Ruby prints them" do
    reader = jvm.reader(["[x]"], ["ip"], 1_000)
    events = [BigDecimal("1.5"), LogStash::Timestamp.now, { "a" => "b" }, 2**70, 1.0e20, -0.0, 7]
             .map { |v| LogStash::Event.new("x" => v) }
    batch = reader.read(events)
    expect(Array.new(batch.size) { |s| batch.value(s).to_s }).to eq([(2**70).to_s, 1.0e20.to_s, "-0.0", "7"])
  end

  it "looks a batch up in one JNI call with the engine FFI made" do
    status, key = native.key("ip", "203.0.113.7")
    expect(status).to eq(:ok)
    @memcached.set(key, "7#ip-dst")
    engine = native::Engine.new(servers: [@memcached.addr], range_refresh_ms: 0)
    reader = jvm.reader(["[ip]"], ["ip"], 1_000)
    events = [LogStash::Event.new("ip" => "198.51.100.1"), LogStash::Event.new("ip" => ["x", "203.0.113.7"])]
    batch = reader.read(events)
    result = engine.lookup_batch(batch)
    expect(result.slots.keys).to eq([2])
    expect(batch.event(2)).to eq(1)
    expect(result.slots[2].matches.first.entries.map(&:to_a)).to eq([["7", "ip-dst"]])
    engine.close
    expect { engine.lookup_batch(reader.read(events)) }.to raise_error(native::ClosedError)
  end

  it "refuses a batch looked up on another thread or after the thread read another" do
    engine = native::Engine.new(servers: [@memcached.addr], range_refresh_ms: 0)
    reader = jvm.reader(["[ip]"], ["ip"], 1_000)
    events = [LogStash::Event.new("ip" => "198.51.100.1")]
    first = reader.read(events)
    reader.read(events)
    expect { engine.lookup_batch(first) }.to raise_error(java.lang.IllegalStateException)
    other = reader.read(events)
    thread = Thread.new do
      Thread.current.report_on_exception = false
      engine.lookup_batch(other)
    end
    expect { thread.join }.to raise_error(java.lang.IllegalStateException)
    engine.close
  end

  describe "the JNI entry point" do
    # NativeLookup.lookup(long engine, ByteBuffer batch, int length, ByteBuffer status), private.
    let(:raw) do
      m = lookup_class.java_class.to_java.getDeclaredMethod(
        "lookup", Java::long, java.nio.ByteBuffer.java_class, Java::int, java.nio.ByteBuffer.java_class
      )
      m.setAccessible(true)
      m
    end
    let(:engine) { native::Engine.new(servers: [@memcached.addr], range_refresh_ms: 0) }
    after { engine.close }

    def direct(bytes)
      buf = java.nio.ByteBuffer.allocateDirect([bytes.bytesize, 1].max)
      buf.put(bytes.to_java_bytes)
      buf
    end

    # [result or nil, status, message] of one raw call.
    def call(address, batch, length, status = java.nio.ByteBuffer.allocateDirect(1032))
      status.order(java.nio.ByteOrder::LITTLE_ENDIAN)
      status.putInt(0, 7999).putInt(4, 0)
      out = raw.invoke(nil, address.to_java(:long), batch, length.to_java(:int), status)
      len = status.getInt(4)
      msg = Array.new(len) { |i| status.get(8 + i) }.pack("c*")
      [out, status.getInt(0), msg]
    end

    let(:empty) { "MEL1" + [0].pack("V") }

    it "answers a valid batch and writes no status" do
      out, status, = call(engine.instance_variable_get(:@handle).address, direct(empty), empty.bytesize)
      expect(String.from_java_bytes(out)).to start_with("MER1")
      expect(status).to eq(7999) # untouched: Java reads it only when the result is null
    end

    it "refuses a NULL engine, negative and too long lengths, heap and NULL buffers" do
      address = engine.instance_variable_get(:@handle).address
      expect(call(0, direct(empty), empty.bytesize).values_at(0, 1)).to eq([nil, 7001])
      expect(call(address, direct(empty), -1)[1..2]).to eq([7001, "batch length is negative"])
      expect(call(address, direct(empty), empty.bytesize + 1)[1..2])
        .to eq([7001, "batch length exceeds the buffer's capacity"])
      expect(call(address, java.nio.ByteBuffer.allocate(8), 8)[1..2]).to eq([7001, "batch is not a direct ByteBuffer"])
      expect(call(address, nil, 0)[1]).to eq(7001)
    end

    it "refuses a malformed batch with the decoder's message, cut to the status buffer" do
      address = engine.instance_variable_get(:@handle).address
      bad = "MEL1" + [3].pack("V")
      out, status, msg = call(address, direct(bad), bad.bytesize)
      expect([out, status]).to eq([nil, 7009])
      expect(msg).not_to be_empty
      _, status, msg = call(address, direct(bad), bad.bytesize, java.nio.ByteBuffer.allocateDirect(12))
      expect([status, msg.bytesize]).to eq([7009, 4])
    end

    it "writes nothing without a usable status buffer" do
      address = engine.instance_variable_get(:@handle).address
      out = raw.invoke(nil, address.to_java(:long), direct(empty), 4.to_java(:int), nil)
      expect(out).to be_nil
    end

    it "reports a refused call as Native::Error through the public path" do
      expect { engine.lookup([[0, "ip", "x"]]) }.not_to raise_error
      bytes = ("MEL1" + [9].pack("V")).to_java_bytes
      expect { jvm.call { lookup_class.lookupBytes(engine.instance_variable_get(:@handle).address, bytes) } }
        .to raise_error(native::Error, /malformed_batch/)
    end
  end
end
