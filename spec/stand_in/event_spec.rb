# encoding: utf-8
# The stand-in's LogStash::Event behaves like Logstash 8.x/9.x's
# (shared/reference/logstash_plugin_api.md §2; elastic/logstash event_spec.rb,
# FieldReference.java, Accessors.java, Valuefier.java, StringInterpolation.java).
require_relative "../spec_helper"
require "logstash_stand_in"
require "bigdecimal"

RSpec.describe LogStash::Event do
  describe ".new" do
    it "adds @version and a LogStash::Timestamp @timestamp" do
      event = described_class.new("message" => "hi")
      expect(event.get("@version")).to eq("1")
      expect(event.get("@timestamp")).to be_a(LogStash::Timestamp)
      expect(event.timestamp).to equal(event.get("@timestamp"))
    end

    it "parses an ISO8601 @timestamp and keeps millisecond output" do
      event = described_class.new("@timestamp" => "2015-05-28T23:02:05.350Z")
      expect(event.timestamp.to_s).to eq("2015-05-28T23:02:05.350Z")
      expect(event.timestamp.to_i).to eq(1_432_854_125)
    end

    it "tags an unparseable @timestamp and keeps the original in _@timestamp" do
      event = described_class.new("@timestamp" => "yesterday")
      expect(event.get("tags")).to eq(["_timestampparsefailure"])
      expect(event.get("_@timestamp")).to eq("yesterday")
      expect(event.timestamp).to be_a(LogStash::Timestamp)
    end

    it "moves @metadata out of the data" do
      event = described_class.new("a" => 1, "@metadata" => { "m" => "x" })
      expect(event.to_hash).not_to include("@metadata")
      expect(event.get("[@metadata][m]")).to eq("x")
    end

    it "turns non-String keys into Strings" do
      event = described_class.new(:sym => 1, 2 => "two", "h" => { :inner => true })
      expect(event.get("sym")).to eq(1)
      expect(event.get("2")).to eq("two")
      expect(event.get("[h][inner]")).to be true
      expect(event.to_hash.keys).to all(be_a(String))
    end

    it "moves a tags value that is not a string list to _tags" do
      event = described_class.new("tags" => { "a" => 1 })
      expect(event.get("tags")).to eq(["_tagsparsefailure"])
      expect(event.get("_tags")).to eq([{ "a" => 1 }])
    end

    it "rejects a non-Hash argument" do
      expect { described_class.new([1]) }.to raise_error(TypeError)
    end

    it "copies the given Hash: later changes to it do not reach the event" do
      source = { "a" => { "b" => 1 }, "list" => [1] }
      event = described_class.new(source)
      source["a"]["b"] = 2
      source["list"] << 2
      expect(event.get("[a][b]")).to eq(1)
      expect(event.get("list")).to eq([1])
    end
  end

  describe "field references" do
    subject(:event) do
      described_class.new("foo" => "top", "a.b" => "dotted", "a" => { "b" => "nested" },
                          "list" => ["x", "y", "z"], "@metadata" => { "k" => "meta" })
    end

    it "reads a bare name as one top-level key, dots included" do
      expect(event.get("foo")).to eq("top")
      expect(event.get("a.b")).to eq("dotted")
      expect(event.get("[a.b]")).to eq("dotted")
    end

    it "reads [a][b] paths" do
      expect(event.get("[a][b]")).to eq("nested")
      expect(event.get("[a][missing]")).to be_nil
      expect(event.get("[nope][b]")).to be_nil
    end

    it "reads array indexes, negative ones from the end" do
      expect(event.get("[list][0]")).to eq("x")
      expect(event.get("[list][-1]")).to eq("z")
      expect(event.get("[list][-3]")).to eq("x")
      expect(event.get("[list][3]")).to be_nil
      expect(event.get("[list][-4]")).to be_nil
      expect(event.get("[list][x]")).to be_nil
    end

    it "reads [@metadata][x] from the metadata" do
      expect(event.get("[@metadata][k]")).to eq("meta")
      expect(event.get("[@metadata]")).to eq("k" => "meta")
    end

    it "flattens embedded references" do
      expect(event.get("[[a]][b]")).to eq("nested")
    end

    ["[", "[]", "a[b]", "[a]b", "]", "[a]]", "[a][", "[[]]"].each do |bad|
      it "raises RuntimeError for #{bad.inspect} on get and set" do
        message = "Invalid FieldReference: `#{bad}`"
        expect { event.get(bad) }.to raise_error(RuntimeError, message)
        expect { event.set(bad, 1) }.to raise_error(RuntimeError, message)
        expect { event.include?(bad) }.to raise_error(RuntimeError, message)
        expect { event.remove(bad) }.to raise_error(RuntimeError, message)
      end
    end

    it "takes String references only" do
      expect { event.get(:foo) }.to raise_error(TypeError)
    end
  end

  describe "#get" do
    it "returns the stored String object itself" do
      event = described_class.new("message" => +"abc")
      event.get("message") << "def"
      expect(event.get("message")).to eq("abcdef")
    end

    it "returns fresh copies of Hashes and Arrays" do
      event = described_class.new("h" => { "k" => "v" }, "l" => [1, 2])
      event.get("h")["k2"] = "added"
      event.get("l") << 3
      expect(event.get("h")).to eq("k" => "v")
      expect(event.get("l")).to eq([1, 2])
      expect(event.get("h")).not_to equal(event.get("h"))
    end
  end

  describe "#set" do
    let(:event) { described_class.new }

    it "returns the value and creates intermediate hashes" do
      expect(event.set("[a][b][c]", "v")).to eq("v")
      expect(event.get("a")).to eq("b" => { "c" => "v" })
    end

    it "stores a copy of Hash/Array values" do
      value = { "list" => [1] }
      event.set("h", value)
      value["list"] << 2
      value["new"] = true
      expect(event.get("h")).to eq("list" => [1])
    end

    it "stores the given String object (no copy)" do
      text = +"abc"
      event.set("s", text)
      text << "!"
      expect(event.get("s")).to eq("abc!")
    end

    it "keeps String, nil, Symbol, Integer, Float, BigDecimal, booleans and Timestamps as they are" do
      stamp = LogStash::Timestamp.at(0)
      values = { "s" => "x", "n" => nil, "y" => :sym, "i" => 2**70, "f" => 1.5,
                 "d" => BigDecimal("1.25"), "t" => true, "F" => false, "ts" => stamp }
      values.each { |k, v| event.set(k, v) }
      values.each do |k, v|
        expect(event.get(k)).to eql(v)
      end
      expect(event.get("y")).to be_a(Symbol)
      expect(event.get("d")).to be_a(BigDecimal)
    end

    it "turns Time into LogStash::Timestamp" do
      event.set("when", Time.at(1_000_000_000, 5, :usec))
      expect(event.get("when")).to be_a(LogStash::Timestamp)
      expect(event.get("when").to_s).to eq("2001-09-09T01:46:40.000005Z")
    end

    it "converts nested Hash keys with to_s and nested Time values" do
      event.set("h", { :a => [{ 1 => Time.at(0) }] })
      expect(event.get("[h][a][0][1]")).to eq(LogStash::Timestamp.at(0))
    end

    it "raises a RuntimeError for values the Valuefier cannot store" do
      [Object.new, Struct.new(:a).new(1), 1..2, Rational(1, 3)].each do |bad|
        expect { event.set("x", bad) }.to raise_error(RuntimeError, /Missing Converter handling/)
        expect { event.set("x", "deep" => [bad]) }.to raise_error(RuntimeError, /Missing Converter handling/)
      end
      expect(event.include?("x")).to be false
    end

    it "raises when setting through a scalar parent" do
      event.set("s", "scalar")
      expect { event.set("[s][x]", 1) }.to raise_error(RuntimeError, /Could not set field 'x'/)
      expect { event.set("[s][x][y]", 1) }.to raise_error(RuntimeError)
      expect(event.get("s")).to eq("scalar")
    end

    it "pads an array with nils when setting past its end" do
      event.set("l", ["a"])
      event.set("[l][3]", "d")
      expect(event.get("l")).to eq(["a", nil, nil, "d"])
      event.set("[l][-1]", "last")
      expect(event.get("l")).to eq(["a", nil, nil, "last"])
    end

    it "silently ignores a non-numeric key on an array" do
      event.set("l", ["a"])
      event.set("[l][name]", "x")
      expect(event.get("l")).to eq(["a"])
    end

    it "creates a Hash, not an Array, for a numeric key under a missing parent" do
      event.set("[foo][0]", "bar")
      expect(event.get("[foo][0]")).to eq("bar")
      expect(event.get("foo")).to eq("0" => "bar")
    end

    it "requires a LogStash::Timestamp for @timestamp" do
      expect { event.set("@timestamp", "2020-01-01T00:00:00Z") }.to raise_error(TypeError, /expected LogStash::Timestamp/)
      stamp = LogStash::Timestamp.at(42)
      event.set("[@timestamp]", stamp)
      expect(event.timestamp).to eq(stamp)
    end

    it "guards the tags field" do
      expect { event.set("tags", 5) }.to raise_error(RuntimeError, /reserved tags field '\[tags\]'/)
      expect { event.set("tags", ["a", :b]) }.to raise_error(RuntimeError, /reserved tags field/)
      expect { event.set("[tags][0]", "x") }.to raise_error(RuntimeError, /reserved tags field '\[tags\]\[0\]'/)
      event.set("tags", "one")
      event.set("tags", %w(a b))
      expect(event.get("tags")).to eq(%w(a b))
    end

    it "replaces the whole metadata with [@metadata]" do
      event.set("[@metadata][a]", 1)
      event.set("[@metadata]", "b" => 2)
      expect(event.get("[@metadata]")).to eq("b" => 2)
      expect(event.to_hash).not_to include("@metadata")
    end

    it "refuses a self-referencing structure instead of looping" do
      loop_hash = {}
      loop_hash["self"] = loop_hash
      expect { event.set("x", loop_hash) }.to raise_error(SystemStackError)
    end
  end

  describe "#remove" do
    let(:event) { described_class.new("a" => { "b" => 1, "c" => 2 }, "l" => %w(x y z)) }

    it "returns the removed value" do
      expect(event.remove("[a][b]")).to eq(1)
      expect(event.get("a")).to eq("c" => 2)
      expect(event.remove("[a][b]")).to be_nil
    end

    it "removes array elements by index, shifting the rest" do
      expect(event.remove("[l][0]")).to eq("x")
      expect(event.get("l")).to eq(%w(y z))
      expect(event.remove("[l][-1]")).to eq("z")
      expect(event.remove("[l][9]")).to be_nil
    end

    it "empties the metadata for [@metadata]" do
      event.set("[@metadata][m]", 1)
      expect(event.remove("[@metadata]")).to eq("m" => 1)
      expect(event.get("[@metadata]")).to eq({})
    end
  end

  describe "#include?" do
    let(:event) { described_class.new("nil_value" => nil, "l" => ["x", nil], "s" => "str") }

    it "is true for a Hash key whose value is nil" do
      expect(event.include?("nil_value")).to be true
      expect(event.include?("absent")).to be false
    end

    it "needs a non-nil element for an array index" do
      expect(event.include?("[l][0]")).to be true
      expect(event.include?("[l][1]")).to be false
      expect(event.include?("[l][5]")).to be false
    end

    it "is false below a scalar and true for [@metadata]" do
      expect(event.include?("[s][x]")).to be false
      expect(event.include?("[@metadata]")).to be true
    end
  end

  describe "#tag" do
    it "creates tags and de-duplicates" do
      event = described_class.new
      event.tag("a")
      event.tag("b")
      event.tag("a")
      expect(event.get("tags")).to eq(%w(a b))
    end

    it "turns a scalar tags value into a list" do
      event = described_class.new("tags" => "first")
      event.tag("second")
      expect(event.get("tags")).to eq(%w(first second))
    end

    it "leaves a scalar tags value alone when it already is the tag" do
      event = described_class.new("tags" => "same")
      event.tag("same")
      expect(event.get("tags")).to eq("same")
    end
  end

  describe "cancel" do
    it "cancels and uncancels" do
      event = described_class.new
      expect(event.cancelled?).to be false
      event.cancel
      expect(event.cancelled?).to be true
      event.uncancel
      expect(event.cancelled?).to be false
    end
  end

  describe "#clone" do
    let(:event) { described_class.new("hello" => "world", "h" => { "l" => [1] }, "@metadata" => { "fancy" => "pants" }) }

    it "copies data and metadata deeply, Strings included" do
      copy = event.clone
      copy.set("[h][l][0]", 2)
      copy.set("[@metadata][fancy]", "other")
      copy.get("hello") << "!"
      expect(event.get("[h][l]")).to eq([1])
      expect(event.get("[@metadata][fancy]")).to eq("pants")
      expect(event.get("hello")).to eq("world")
      expect(copy.get("[@metadata][fancy]")).to eq("other")
    end

    it "is not cancelled even when the original is" do
      event.cancel
      expect(event.clone.cancelled?).to be false
    end
  end

  describe "#to_hash and #to_hash_with_metadata" do
    let(:source) { { "a" => 1, "b" => [1, 2, { "h" => "i" }], "c" => { "d" => "e" } } }
    let(:event) { described_class.new(source.merge("@metadata" => { "m" => 1 })) }

    it "gives the data without @metadata, with @timestamp and @version" do
      hash = event.to_hash
      expect(hash.delete("@timestamp")).to be_a(LogStash::Timestamp)
      expect(hash.delete("@version")).to eq("1")
      expect(hash).to eq(source)
    end

    it "adds @metadata only when it is not empty" do
      expect(event.to_hash_with_metadata["@metadata"]).to eq("m" => 1)
      expect(described_class.new.to_hash_with_metadata).not_to include("@metadata")
    end

    it "is a copy" do
      event.to_hash["c"]["d"] = "changed"
      expect(event.get("[c][d]")).to eq("e")
    end
  end

  describe "#sprintf" do
    let(:event) do
      described_class.new("@timestamp" => "2021-08-11T10:20:30.123Z", "name" => "n", "n" => 3, "f" => 1.0e20,
                          "list" => ["a", 1, nil, ["b", "c"]], "h" => { "k" => "v" },
                          "nested" => { "x" => { "y" => "deep" } }, "@metadata" => { "idx" => "meta" })
    end

    it "interpolates field references" do
      expect(event.sprintf("%{name}-%{[nested][x][y]}-%{[@metadata][idx]}")).to eq("n-deep-meta")
    end

    it "leaves a missing field literally" do
      expect(event.sprintf("a %{missing} %{[x][y]} b")).to eq("a %{missing} %{[x][y]} b")
    end

    it "joins arrays with commas, nils empty and nested lists flattened" do
      expect(event.sprintf("%{list}")).to eq("a,1,,b,c")
    end

    it "renders hashes as JSON" do
      expect(event.sprintf("%{h}")).to eq('{"k":"v"}')
    end

    it "renders numbers as Java prints them" do
      expect(event.sprintf("%{n} %{f}")).to eq("3 1.0E20")
    end

    it "formats the timestamp" do
      expect(event.sprintf("%{+%s}")).to eq("1628677230")
      expect(event.sprintf("logs-%{+YYYY.MM.dd}")).to eq("logs-2021.08.11")
      expect(event.sprintf("%{{yyyy-MM-dd'T'HH}}")).to eq("2021-08-11T10")
    end

    it "returns the template unchanged when there is nothing to interpolate" do
      expect(event.sprintf("plain text")).to eq("plain text")
      expect(event.sprintf("%{unclosed")).to eq("%{unclosed")
    end
  end

  describe "deep nesting" do
    def nested(depth)
      root = {}
      current = root
      depth.times do
        child = {}
        current["k"] = child
        current = child
      end
      current["leaf"] = "bottom"
      root
    end

    [1_000, 10_000].each do |depth|
      it "handles #{depth} levels without crashing" do
        event = described_class.new("d" => nested(depth))
        reference = "[d]" + ("[k]" * depth) + "[leaf]"
        expect(event.get(reference)).to eq("bottom")
        expect(event.clone.get(reference)).to eq("bottom")
        expect(event.to_hash["d"]["k"]).to be_a(Hash)
        event.set("copy", event.get("d"))
        expect(event.get("[copy]" + ("[k]" * depth) + "[leaf]")).to eq("bottom")
        expect(event.to_json).to include('"leaf":"bottom"')
      end
    end
  end

  it "forbids event[] access like Logstash 5+" do
    event = described_class.new("a" => 1)
    expect { event["a"] }.to raise_error(NoMethodError, /Direct event field references/)
  end
end

RSpec.describe LogStash::Timestamp do
  it "prints at least milliseconds and more only when needed" do
    expect(described_class.at(0).to_s).to eq("1970-01-01T00:00:00.000Z")
    expect(described_class.at(0, 123_456, :nsec).to_s).to eq("1970-01-01T00:00:00.000123456Z")
    expect(described_class.at(0, 5, :usec).to_s).to eq("1970-01-01T00:00:00.000005Z")
  end

  it "parses ISO8601 with offsets" do
    stamp = described_class.parse_iso8601("2015-05-28T23:02:05+02:00")
    expect(stamp.to_s).to eq("2015-05-28T21:02:05.000Z")
    expect { described_class.parse_iso8601("nope") }.to raise_error(LogStash::TimestampParserError)
  end

  it "compares by instant" do
    expect(described_class.at(1)).to eq(described_class.new(Time.at(1)))
    expect(described_class.at(1)).to be < described_class.at(2)
  end
end
