# encoding: utf-8
# The stand-in's `config` DSL validates and coerces like logstash-core's
# LogStash::Config::Mixin (shared/reference/logstash_plugin_api.md §1).
require_relative "../spec_helper"
require "logstash_stand_in"
require "tmpdir"

module StandInSpec
  # A filter with one option of each validator the stand-in supports.
  class Options < LogStash::Filters::Base
    config_name "stand_in_options"

    config :str, :validate => :string
    config :num, :validate => :number
    config :flag, :validate => :boolean, :default => false
    config :list, :validate => :array, :default => []
    config :map, :validate => :hash, :default => {}
    config :secret, :validate => :password
    config :where, :validate => :path
    config :endpoint, :validate => :uri
    config :endpoints, :validate => :uri, :list => true
    config :target, :validate => :field_reference
    config :mode, :validate => %w(fast slow), :default => "fast"
    config :size, :validate => :bytes
    config :fingerprint, :validate => :sha_256_hex
    config :hosts, :validate => :string, :list => true
    config :anything
    config :old_name, :validate => :string, :deprecated => "Use `str` instead."
    config :gone, :validate => :string, :obsolete => "It was removed."
    config :hidden, :validate => :string, :attr_accessor => false
    config :timeout, :validate => :number, :default => "2.5"

    def register; end

    def filter(event)
      filter_matched(event)
    end
  end

  class Required < LogStash::Filters::Base
    config_name "stand_in_required"
    config :must, :validate => :string, :required => true
    config :many, :validate => :string, :list => true, :required => true, :default => ["x"]
  end
end

RSpec.describe "LogStash::Config::Mixin stand-in" do
  def build(params = {})
    StandInSpec::Options.new(params)
  end

  def config_errors
    StandInSpec::Options.logger.messages(:error).map(&:message).join("\n")
  end

  def expect_invalid(params, detail)
    expect { build(params) }.to raise_error(LogStash::ConfigurationError, "Something is wrong with your configuration.")
    expect(config_errors).to match(detail)
  end

  it "turns options into @ivars with readers and writers" do
    plugin = build("str" => "s")
    expect(plugin.str).to eq("s")
    expect(plugin.instance_variable_get(:@str)).to eq("s")
    plugin.str = "t"
    expect(plugin.str).to eq("t")
    expect(plugin).not_to respond_to(:hidden)
    expect(build("hidden" => "h").instance_variable_get(:@hidden)).to eq("h")
  end

  it "fills defaults before validation, so defaults are coerced too" do
    plugin = build
    expect(plugin.timeout).to eql(2.5)
    expect(plugin.flag).to be false
    expect(plugin.mode).to eq("fast")
    expect(plugin.str).to be_nil
  end

  it "gives each instance its own copy of a mutable default" do
    first = build
    first.list << "changed"
    expect(build.list).to eq([])
  end

  it "rejects unknown settings, logging the name" do
    expect_invalid({ "nope" => 1 }, /Unknown setting 'nope' for stand_in_options/)
  end

  it "needs String keys, as a Logstash config always has (Symbol keys blow up in config_init)" do
    expect { build(:str => "s") }.to raise_error(RuntimeError, /can't add a new key into hash during iteration/)
  end

  describe ":required" do
    it "fails on a missing value" do
      expect { StandInSpec::Required.new({}) }.to raise_error(LogStash::ConfigurationError)
      expect(StandInSpec::Required.logger.logged?(:error, /must => # SETTING MISSING/)).to be true
    end

    it "fails on an empty :list" do
      expect { StandInSpec::Required.new("must" => "m", "many" => []) }.to raise_error(LogStash::ConfigurationError)
      expect(StandInSpec::Required.new("must" => "m").many).to eq(["x"])
    end
  end

  describe "coercions" do
    it ":array wraps a scalar" do
      expect(build("list" => "one").list).to eq(["one"])
      expect(build("list" => %w(a b)).list).to eq(%w(a b))
    end

    it ":hash takes a Hash or builds one from a flat list, collecting repeated keys" do
      expect(build("map" => { "a" => "1" }).map).to eq("a" => "1")
      expect(build("map" => %w(a 1 b 2 a 3)).map).to eq("a" => %w(1 3), "b" => "2")
      expect_invalid({ "map" => %w(a 1 b) }, /even number of items/)
    end

    it ":number reads \"1.5\" as a Float and \"3\" as an Integer" do
      expect(build("num" => "1.5").num).to eql(1.5)
      expect(build("num" => "3").num).to eql(3)
      expect(build("num" => 7).num).to eql(7)
      expect_invalid({ "num" => "abc" }, /Expected number/)
      expect_invalid({ "num" => "03" }, /Expected number/)
      expect_invalid({ "num" => %w(1 2) }, /Expected number/)
    end

    it ":boolean takes true/false and \"true\"/\"false\" only" do
      expect(build("flag" => "true").flag).to be true
      expect(build("flag" => "false").flag).to be false
      expect(build("flag" => true).flag).to be true
      expect_invalid({ "flag" => "yes" }, /Expected boolean 'true' or 'false'/)
    end

    it ":string takes one value" do
      expect(build("str" => ["one"]).str).to eq("one")
      expect_invalid({ "str" => %w(a b) }, /Expected string/)
    end

    it "an Array validator takes exactly one of its values" do
      expect(build("mode" => "slow").mode).to eq("slow")
      expect_invalid({ "mode" => "medium" }, /Expected one of \["fast", "slow"\]/)
    end

    it ":password wraps the value and hides it" do
      plugin = build("secret" => "s3cr3t")
      expect(plugin.secret).to be_a(LogStash::Util::Password)
      expect(plugin.secret.value).to eq("s3cr3t")
      expect(plugin.secret.to_s).to eq("<password>")
      expect(plugin.secret.inspect).not_to include("s3cr3t")
    end

    it ":path requires an existing path" do
      Dir.mktmpdir do |dir|
        expect(build("where" => dir).where).to eq(dir)
        expect_invalid({ "where" => File.join(dir, "missing") }, /File does not exist/)
      end
    end

    it ":uri gives a SafeURI hiding the password; a :list also splits on spaces" do
      plugin = build("endpoint" => "http://user:pw@misp.example.org/x", "endpoints" => ["h1:1 h2:2", "h3"])
      expect(plugin.endpoint).to be_a(LogStash::Util::SafeURI)
      expect(plugin.endpoint.to_s).to eq("http://user:xxxxxx@misp.example.org/x")
      expect(plugin.endpoint.password).to eq("pw")
      expect(plugin.endpoints.map(&:host)).to eq(%w(h1 h2 h3))
      expect(plugin.endpoints.map(&:port)).to eq([1, 2, nil])
    end

    it ":field_reference validates the syntax; empty means nil" do
      expect(build("target" => "[threat][enrichments]").target).to eq("[threat][enrichments]")
      expect(build("target" => "").target).to be_nil
      expect_invalid({ "target" => "a[b]" }, /Expected a valid field reference/)
    end

    it ":bytes reads sizes" do
      expect(build("size" => "10 KiB").size).to eq(10_240)
      expect(build("size" => "2mb").size).to eq(2_000_000)
      expect(build("size" => 5).size).to eq(5)
      expect_invalid({ "size" => "ten" }, /Unparseable filesize/)
    end

    it ":sha_256_hex normalises to upper-case hex" do
      hex = "ab" * 32
      expect(build("fingerprint" => hex).fingerprint).to eq(hex.upcase)
      expect_invalid({ "fingerprint" => "abc" }, /hex-encoded SHA-256/)
    end

    it ":list validates each element and keeps an empty list" do
      expect(build("hosts" => "one").hosts).to eq(["one"])
      expect(build("hosts" => []).hosts).to eq([])
    end

    it "no validator leaves the value alone" do
      value = { "x" => [1] }
      expect(build("anything" => value).anything).to eq(value)
    end
  end

  it "substitutes ${VAR} and ${VAR:default}" do
    ENV["STAND_IN_SPEC_VAR"] = "from-env"
    begin
      expect(build("str" => "${STAND_IN_SPEC_VAR}").str).to eq("from-env")
      expect(build("str" => "${STAND_IN_SPEC_UNSET:fallback}").str).to eq("fallback")
      expect { build("str" => "${STAND_IN_SPEC_UNSET}") }.to raise_error(LogStash::ConfigurationError, /Cannot evaluate/)
    ensure
      ENV.delete("STAND_IN_SPEC_VAR")
    end
  end

  it "warns about :deprecated settings" do
    build("old_name" => "x")
    expect(StandInSpec::Options.logger.logged?(:warn, /deprecated config setting "old_name".*Use `str` instead/)).to be true
  end

  it "rejects :obsolete settings with their message, and the base filter's type/tags/exclude_tags" do
    expect { build("gone" => "x") }.to raise_error(LogStash::ConfigurationError, /`gone`.*obsolete.*It was removed/)
    %w(type tags exclude_tags).each do |name|
      expect { build(name => "x") }.to raise_error(LogStash::ConfigurationError, /obsolete/)
    end
    expect(build.instance_variable_defined?(:@type)).to be false
  end

  it "has the common options of every filter with Logstash's defaults" do
    plugin = build
    expect(plugin.add_tag).to eq([])
    expect(plugin.remove_tag).to eq([])
    expect(plugin.add_field).to eq({})
    expect(plugin.remove_field).to eq([])
    expect(plugin.periodic_flush).to be false
    expect(plugin.enable_metric).to be true
    expect(plugin.id).to match(/\Astand_in_options_\h{8}-\h{4}-\h{4}-\h{4}-\h{12}\z/)
    expect(build("id" => "mine").id).to eq("mine")
  end

  it "does not share params with the caller" do
    params = { "list" => ["a"] }
    plugin = build(params)
    plugin.params["list"] << "b"
    expect(params).to eq("list" => ["a"])
  end

  it "does not leak options between sibling plugin classes" do
    expect(StandInSpec::Required.get_config).not_to include("str")
    expect(StandInSpec::Options.get_config).not_to include("must")
    expect(LogStash::Filters::Base.get_config).not_to include("str")
  end
end
