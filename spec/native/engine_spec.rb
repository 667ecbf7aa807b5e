# encoding: utf-8
# The engine through FFI against a real memcached that this spec starts and
# kills itself: real lookups (hit, miss, Sysmon hashes, event metadata),
# failure slots while the server is down, stats, and the handle's lifecycle.
require_relative "../spec_helper"
require "memcached_server"
require "json"

RSpec.describe MispEnrich::Native::Engine do
  let(:native) { MispEnrich::Native }
  let(:sha256) { "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }

  before(:all) { @memcached = SpecSupport::MemcachedServer.new }
  after(:all) { @memcached.stop }

  # Writes an indicator under the key the library computes (the shared key rule).
  def put(ns, value, entries)
    status, key = MispEnrich::Native.key(ns, value)
    raise "no key for #{value}: #{key}" unless status == :ok
    @memcached.set(key, entries)
  end

  def config(extra = {})
    { servers: [@memcached.addr], range_refresh_ms: 0, connect_timeout_ms: 200, io_timeout_ms: 300,
      breaker_failures: 2, breaker_backoff_ms: 300 }.merge(extra)
  end

  let(:engine) { described_class.new(config) }
  after { engine.close }

  it "lists the namespaces the batch format can carry" do
    expect(native.namespaces).to include("ip", "domain", "sha256", "url", "hashes")
    expect(native.namespace_ids["md5"]).to eq(0)
  end

  context "with indicators in memcached" do
    before(:all) do
      # Values as the seed's loader wrote them: spaces and empty parts.
      put("domain", "evil.example", "42#domain, 43#hostname,,")
      put("ip", "203.0.113.7", "7#ip-dst")
      put("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "9#sha256")
      @memcached.set("misp-event:42", JSON.generate(id: "42", info: "Emotet wave", threat_level: "high",
                                                    tags: ["tlp:amber"]))
    end

    it "returns matches only for the slots that hit, with entries in stored order" do
      result = engine.lookup([
        [0, "domain", "Evil.Example."],
        [0, "ip", "198.51.100.1"],
        [1, "ip", "203.0.113.7"],
        [2, "domain", "harmless.example"],
        [3, "url", "http://harmless.example/x"]
      ])
      expect(result.slots.keys).to eq([0, 1])
      slot0 = result.slots[0]
      expect(slot0.failed).to be false
      expect(slot0.matches.size).to eq(1)
      m = slot0.matches.first
      expect([m.namespace, m.kind, m.value]).to eq(["domain", :exact, "evil.example"])
      expect(m.entries.map(&:to_a)).to eq([["42", "domain"], ["43", "hostname"]])
      expect(result.slots[1].matches.first.entries.map(&:to_a)).to eq([["7", "ip-dst"]])
      expect(result.failed_slots).to eq([])
    end

    it "returns the event metadata of hits" do
      result = engine.lookup([[5, "domain", "evil.example"]])
      expect(result.events.keys).to eq(["42"])
      expect(result.events["42"]["info"]).to eq("Emotet wave")
      expect(result.events["42"]["tags"]).to eq(["tlp:amber"])
    end

    it "splits Sysmon's Hashes string and reports the hash's namespace" do
      hashes = "SHA1=DA39A3EE5E6B4B0D3255BFEF95601890AFD80709,MD5=D41D8CD98F00B204E9800998ECF8427E," \
               "SHA256=#{sha256.upcase},IMPHASH=00000000000000000000000000000000"
      result = engine.lookup([[9, "hashes", hashes]])
      m = result.slots[9].matches
      expect(m.map { |x| [x.namespace, x.value] }).to eq([["sha256", sha256]])
    end

    it "skips values that cannot be indicators without failing the batch" do
      result = engine.lookup([[0, "ip", "\xff\xfe".b], [1, "sha256", "x" * 1_000_000], [2, "ip", nil],
                              [3, "ip", "203.0.113.7"]])
      expect(result.slots.keys).to eq([3])
      expect(engine.stats["invalid_values"]).to eq(3)
    end

    it "answers from many threads at once" do
      results = Array.new(4) do |t|
        Thread.new do
          Array.new(25) { |i| engine.lookup([[i, "ip", "203.0.113.7"], [i + 1000, "ip", "198.51.100.#{t}"]]) }
        end
      end.map(&:value).flatten
      expect(results.size).to eq(100)
      expect(results.map { |r| r.slots.keys.size }.uniq).to eq([1])
      expect(engine.stats["batches"]).to eq(100)
    end

    it "reports stats as a Hash" do
      engine.lookup([[0, "domain", "evil.example"], [1, "domain", "other.example"]])
      stats = engine.stats
      expect(stats["items"]).to eq(2)
      expect(stats["matches"]).to eq(1)
      expect(stats["memcached_round_trips"]).to be >= 1
      expect(stats["servers"].first["addr"]).to eq(@memcached.addr)
      expect(stats["servers"].first["breaker"]).to eq("closed")
      expect(stats["latency"]["counts"].sum).to eq(1)
    end
  end

  context "when memcached dies and comes back" do
    it "flags failed slots within the timeout, serves cached answers, and resumes" do
      put("domain", "cached.example", "1#domain")
      expect(engine.lookup([[0, "domain", "cached.example"]]).slots.keys).to eq([0])
      @memcached.stop
      begin
        3.times do
          started = Time.now
          result = engine.lookup([[0, "domain", "cached.example"], [1, "domain", "unknown.example"]])
          # connect (200 ms) + 2 round trips (300 ms each), plus a generous margin.
          expect(Time.now - started).to be < 2.5
          expect(result.slots[0].matches.first.value).to eq("cached.example")
          expect(result.failed_slots).to eq([1])
        end
        expect(engine.stats["servers"].first["breaker"]).to eq("open")
      ensure
        @memcached.start
      end
      put("domain", "unknown.example", "2#domain")
      deadline = Time.now + 20
      result = nil
      loop do
        result = engine.lookup([[1, "domain", "unknown.example"]])
        break if result.failed_slots.empty?
        raise "lookups never resumed" if Time.now > deadline
        sleep 0.05
      end
      expect(result.slots[1].matches.first.entries.first.to_a).to eq(["2", "domain"])
    end
  end

  describe "configuration and lifecycle" do
    it "refuses a bad configuration with the reason" do
      expect { described_class.new(servers: [@memcached.addr], cache_sise: 1) }
        .to raise_error(native::Error, /unknown field `cache_sise`/) { |e| expect(e.status).to eq(:invalid_config) }
      expect { described_class.new(servers: []) }.to raise_error(native::Error, /no memcached server/)
    end

    it "refuses an unknown namespace before calling the library" do
      expect { engine.lookup([[0, "sha3", "x"]]) }.to raise_error(ArgumentError, /unknown namespace "sha3"/)
    end

    it "closes idempotently and refuses lookups afterwards" do
      e = described_class.new(config)
      e.close
      e.close
      expect(e.closed?).to be true
      expect { e.lookup([[0, "ip", "10.0.0.1"]]) }.to raise_error(native::ClosedError)
      expect { e.stats }.to raise_error(native::ClosedError)
    end

    it "hands an unclosed engine to the garbage collector, and a closed one not twice" do
      e = described_class.new(config)
      handle = e.instance_variable_get(:@handle)
      expect(handle).to be_a(FFI::AutoPointer)
      expect(handle.autorelease?).to be true
      e.close
      expect(handle.autorelease?).to be false
      # Engines dropped without close are freed by their finalizer; the
      # library keeps working for the others.
      5.times { described_class.new(config) }
      java.lang.System.gc
      put("ip", "203.0.113.9", "3#ip-dst")
      expect(engine.lookup([[0, "ip", "203.0.113.9"]]).slots.keys).to eq([0])
    end
  end
end
