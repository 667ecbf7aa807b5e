# encoding: utf-8
# The stand-in's LogStash::Filters::Base / LogStash::Plugin behave like
# logstash-core's (shared/reference/logstash_plugin_api.md §1 and §3).
require_relative "../spec_helper"
require "logstash_stand_in"

module StandInSpec
  # Records what the base class hands it; yields a child event for events
  # carrying "split", cancels those carrying "drop".
  class Recorder < LogStash::Filters::Base
    config_name "stand_in_recorder"

    attr_reader :seen

    def register
      @seen = []
    end

    def filter(event)
      @seen << event
      event.cancel if event.get("drop")
      yield LogStash::Event.new("child_of" => event.get("message")) if event.get("split")
      filter_matched(event)
    end
  end

  # Base's register/filter are left abstract.
  class Abstract < LogStash::Filters::Base
    config_name "stand_in_abstract"
  end
end

RSpec.describe LogStash::Filters::Base do
  let(:plugin_class) { StandInSpec::Recorder }

  def plugin(params = {})
    plugin_class.new(params).tap(&:register)
  end

  it "is a LogStash::Plugin of type filter, thread-safe by default" do
    instance = plugin
    expect(instance).to be_a(LogStash::Plugin)
    expect(described_class.plugin_type).to eq("filter")
    expect(instance.config_name).to eq("stand_in_recorder")
    expect(instance.threadsafe?).to be true
  end

  it "leaves register and filter abstract, raising like Logstash" do
    abstract = StandInSpec::Abstract.new({})
    expect { abstract.register }.to raise_error(RuntimeError, "StandInSpec::Abstract#register must be overidden")
    expect { abstract.filter(LogStash::Event.new) }.to raise_error(RuntimeError, /#filter must be overidden/)
  end

  it "needs a params argument" do
    expect { StandInSpec::Abstract.new }.to raise_error(ArgumentError)
  end

  describe "#multi_filter" do
    it "appends each event, then what filter yielded for it, skipping cancelled inputs" do
      instance = plugin
      first = LogStash::Event.new("message" => "1", "split" => true)
      skipped = LogStash::Event.new("message" => "2")
      skipped.cancel
      last = LogStash::Event.new("message" => "3")
      result = instance.multi_filter([first, skipped, last])
      expect(result.size).to eq(3)
      expect(result[0]).to equal(first)
      expect(result[1].get("child_of")).to eq("1")
      expect(result[2]).to equal(last)
      expect(instance.seen).to eq([first, last])
    end

    it "keeps events cancelled inside filter in its own result" do
      instance = plugin
      dropped = LogStash::Event.new("drop" => true)
      expect(instance.multi_filter([dropped])).to eq([dropped])
      expect(dropped.cancelled?).to be true
    end

    it "records the plugin on the worker thread" do
      instance = plugin
      instance.multi_filter([])
      expect(Thread.current[:plugin]).to equal(instance)
    end
  end

  describe "#filter_matched" do
    it "adds fields with sprintf in names and values" do
      instance = plugin("add_field" => { "from_%{message}" => "value %{message}" })
      event = LogStash::Event.new("message" => "m")
      instance.multi_filter([event])
      expect(event.get("from_m")).to eq("value m")
    end

    it "turns an existing field into an Array and appends" do
      instance = plugin("add_field" => { "f" => ["two", "three"] })
      event = LogStash::Event.new("f" => "one")
      instance.multi_filter([event])
      expect(event.get("f")).to eq(%w(one two three))
    end

    it "removes fields (sprintf'd)" do
      instance = plugin("remove_field" => ["[a][%{which}]", "gone"])
      event = LogStash::Event.new("which" => "b", "a" => { "b" => 1, "c" => 2 }, "gone" => 1)
      instance.multi_filter([event])
      expect(event.get("a")).to eq("c" => 2)
      expect(event.include?("gone")).to be false
    end

    it "adds tags with sprintf and WITHOUT de-duplication" do
      instance = plugin("add_tag" => ["t_%{message}", "dup"])
      event = LogStash::Event.new("message" => "m", "tags" => ["dup"])
      instance.multi_filter([event])
      expect(event.get("tags")).to eq(%w(dup t_m dup))
    end

    it "appends add_tag to a scalar String tags value in place, as Logstash's get/<</set does" do
      instance = plugin("add_tag" => ["b"])
      event = LogStash::Event.new("tags" => +"a")
      instance.multi_filter([event])
      expect(event.get("tags")).to eq("ab")
    end

    it "removes tags (sprintf'd), turning a scalar tags value into a list" do
      instance = plugin("remove_tag" => ["old_%{message}"])
      event = LogStash::Event.new("message" => "m", "tags" => "old_m")
      instance.multi_filter([event])
      expect(event.get("tags")).to eq([])
    end

    it "applies add_field, remove_field, add_tag, remove_tag in that order" do
      instance = plugin("add_field" => { "tmp" => "x" }, "remove_field" => ["tmp"],
                        "add_tag" => ["keep", "drop"], "remove_tag" => ["drop"])
      event = LogStash::Event.new
      instance.multi_filter([event])
      expect(event.include?("tmp")).to be false
      expect(event.get("tags")).to eq(["keep"])
    end

    it "is protected" do
      expect { plugin.filter_matched(LogStash::Event.new) }.to raise_error(NoMethodError, /protected/)
    end
  end

  describe "logger" do
    it "is one recording logger per class, shared by its instances" do
      instance = plugin
      expect(instance.logger).to equal(plugin_class.logger)
      expect(instance.logger.name).to eq("standinspec.recorder")
      instance.logger.warn("memcached down", :server => "m:11211")
      message = plugin_class.logger.messages(:warn).last
      expect(message.message).to eq("memcached down")
      expect(message.data).to eq(:server => "m:11211")
      expect(StandInSpec::Abstract.logger.messages).to be_empty
    end

    it "honours levels, :info by default like Logstash" do
      logger = plugin.logger
      expect(logger.debug?).to be false
      logger.debug("hidden")
      expect(logger.messages).to be_empty
      LogStash::Logging::Logger.level = :debug
      expect(logger.debug?).to be true
      expect(logger.trace?).to be false
      logger.debug("shown")
      expect(logger.logged?(:debug, "shown")).to be true
    end

    it "starts every example with no messages and level :info" do
      expect(plugin_class.logger.messages).to be_empty
      expect(plugin_class.logger.level).to eq(:info)
    end

    it "is also the @logger instance variable plugins use" do
      instance = plugin
      expect(instance.instance_variable_get(:@logger)).to equal(plugin_class.logger)
    end
  end

  describe "metric" do
    it "is a null metric when nothing was injected" do
      metric = plugin.metric
      expect(metric).to be_a(LogStash::Instrument::NamespacedNullMetric)
      expect(metric.increment(:x)).to be_nil
      expect(metric.gauge(:g, 1)).to be_nil
      expect(metric.time(:t) { 42 }).to eq(42)
      expect(metric.namespace(:sub)).to respond_to(:increment)
      expect(metric.counter(:c).value).to eq(0)
    end

    it "is the injected metric when one was set before first use" do
      recording = LogStashStandIn::RecordingMetric.new
      instance = plugin_class.new({})
      instance.metric = recording
      instance.metric.increment(:matches)
      instance.metric.increment(:matches, 2)
      instance.metric.decrement(:matches)
      instance.metric.gauge(:cache_size, 10)
      instance.metric.namespace(:lookups).increment(:hits)
      expect(recording.counter_value(:matches)).to eq(2)
      expect(recording.gauge_value(:cache_size)).to eq(10)
      expect(recording.namespace(:lookups).counter_value(:hits)).to eq(1)
      expect(recording.snapshot).to eq([:matches] => 2, [:cache_size] => 10, [:lookups, :hits] => 1)
    end

    it "keeps its first answer, as Logstash does (inject before register)" do
      instance = plugin_class.new({})
      early = instance.metric
      instance.metric = LogStashStandIn::RecordingMetric.new
      expect(instance.metric).to equal(early)
    end

    it "stays null with enable_metric => false" do
      instance = plugin_class.new("enable_metric" => "false")
      instance.metric = LogStashStandIn::RecordingMetric.new
      expect(instance.metric).to be_a(LogStash::Instrument::NamespacedNullMetric)
    end
  end

  describe "the recording metric" do
    let(:metric) { LogStashStandIn::RecordingMetric.new }

    it "times blocks in milliseconds and returns their value" do
      expect(metric.time(:took) { :result }).to eq(:result)
      expect(metric.timer_value(:took)).to be >= 0
      expect(metric.values.keys).to eq([:took])
    end

    it "refuses a missing key and reusing a key as another type" do
      expect { metric.increment(nil) }.to raise_error(LogStash::Instrument::MetricNoKeyProvided)
      metric.increment(:k)
      expect { metric.gauge(:k, 1) }.to raise_error(TypeError)
    end

    it "counts correctly from several threads" do
      threads = Array.new(4) { Thread.new { 1000.times { metric.increment(:n) } } }
      threads.each(&:join)
      expect(metric.counter_value(:n)).to eq(4000)
    end
  end

  describe "execution_context" do
    it "defaults to a pipeline called main" do
      expect(plugin.execution_context.pipeline_id).to eq("main")
    end

    it "is set before the plugin's own initialize runs" do
      seen = nil
      klass = Class.new(LogStash::Filters::Base) do
        config_name "stand_in_ctx"
        define_method(:initialize) do |params|
          seen = execution_context.pipeline_id
          super(params)
        end
      end
      LogStashStandIn.with_execution_context(:pipeline_id => "p1") { klass.new({}) }
      expect(seen).to eq("p1")
    end
  end

  describe "ecs_compatibility" do
    it "accepts disabled, v1 and v8 as symbols" do
      expect(plugin_class.new("ecs_compatibility" => "disabled").ecs_compatibility).to eq(:disabled)
      expect(plugin_class.new("ecs_compatibility" => "v1").ecs_compatibility).to eq(:v1)
      expect(plugin_class.new("ecs_compatibility" => "v8").ecs_compatibility).to eq(:v8)
    end

    it "rejects anything else" do
      %w(v0 8 true).each do |bad|
        expect { plugin_class.new("ecs_compatibility" => bad) }.to raise_error(LogStash::ConfigurationError)
      end
      expect(plugin_class.logger.logged?(:error, /v-prefixed integer/)).to be true
    end

    it "defaults to the pipeline setting, v8 as in Logstash 8/9" do
      expect(plugin_class.new({}).ecs_compatibility).to eq(:v8)
      LogStashStandIn.pipeline_ecs_compatibility = :disabled
      expect(plugin_class.new({}).ecs_compatibility).to eq(:disabled)
      LogStashStandIn.with_pipeline_ecs_compatibility(:v1) do
        expect(plugin_class.new({}).ecs_compatibility).to eq(:v1)
      end
      expect(plugin_class.new({}).ecs_compatibility).to eq(:disabled)
    end

    it "is restored to v8 before each example" do
      expect(LogStashStandIn.pipeline_ecs_compatibility).to eq(:v8)
    end

    it "prefers the explicit option over the pipeline setting" do
      LogStashStandIn.pipeline_ecs_compatibility = :v1
      expect(plugin_class.new("ecs_compatibility" => "disabled").ecs_compatibility).to eq(:disabled)
    end

    it "reads the pipeline of the plugin's execution context" do
      instance = LogStashStandIn.with_execution_context(:ecs_compatibility => :v1) { plugin_class.new({}) }
      expect(instance.ecs_compatibility).to eq(:v1)
    end

    it "only allows the pipeline values Logstash allows" do
      expect { LogStashStandIn.pipeline_ecs_compatibility = :v2 }.to raise_error(ArgumentError)
    end
  end

  it "closes through do_close" do
    closed = false
    klass = Class.new(StandInSpec::Recorder) { define_method(:close) { closed = true } }
    klass.new({}).do_close
    expect(closed).to be true
  end

  it "requires the usual paths" do
    %w(logstash/namespace logstash/event logstash/util logstash/filters/base logstash/timestamp
       logstash/util/password logstash/plugin logstash/json).each do |path|
      expect { require path }.not_to raise_error
    end
    expect(LogStash::Util).to respond_to(:set_thread_plugin)
    expect(LogStash::ConfigurationError.ancestors).to include(LogStash::Error, StandardError)
  end
end
