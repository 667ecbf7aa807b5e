# encoding: utf-8
# The stand-in pipeline drives a filter the way Logstash's does
# (register once, multi_filter on batches, cancelled events dropped).
require_relative "../spec_helper"
require "logstash_stand_in"

module StandInSpec
  # Counts register calls and batch sizes; cancels events marked "drop";
  # yields a clone for events marked "twin".
  class BatchProbe < LogStash::Filters::Base
    config_name "stand_in_batch_probe"

    attr_reader :registrations, :batch_sizes, :threads, :closed

    def register
      @registrations = (@registrations || 0) + 1
      @batch_sizes = Queue.new
      @threads = Queue.new
      @closed = false
    end

    def multi_filter(events)
      @batch_sizes << events.size
      @threads << Thread.current
      sleep 0.01 if events.size > 1
      super
    end

    def filter(event)
      event.cancel if event.get("drop")
      yield event.clone.tap { |twin| twin.set("twin", true) } if event.get("twin_me")
      filter_matched(event)
    end

    def close
      @closed = true
    end

    def drain(queue)
      items = []
      items << queue.pop until queue.empty?
      items
    end
  end

  class BadReturn < LogStash::Filters::Base
    config_name "stand_in_bad_return"
    def register; end

    def multi_filter(_events)
      nil
    end
  end

  class Exploding < LogStash::Filters::Base
    config_name "stand_in_exploding"
    def register; end

    def filter(_event)
      raise IOError, "boom"
    end
  end

  class FailingRegister < LogStash::Filters::Base
    config_name "stand_in_failing_register"
    def register
      raise LogStash::ConfigurationError, "cannot reach memcached"
    end
  end
end

RSpec.describe LogStashStandIn do
  let(:probe) { StandInSpec::BatchProbe.new("add_tag" => ["seen"]) }

  describe ".run_batch" do
    it "registers once across calls and returns the surviving events" do
      first = described_class.run_batch(probe, [{ "message" => "a" }, { "message" => "b", "drop" => true }])
      second = described_class.run_batch(probe, ["c"])
      expect(probe.registrations).to eq(1)
      expect(first.map { |e| e.get("message") }).to eq(["a"])
      expect(second.map { |e| e.get("message") }).to eq(["c"])
      expect(first.first.get("tags")).to eq(["seen"])
    end

    it "keeps the Event objects it was given and appends yielded events after their parent" do
      event = LogStash::Event.new("message" => "x", "twin_me" => true)
      result = described_class.run_batch(probe, [event, LogStash::Event.new("message" => "y")])
      expect(result[0]).to equal(event)
      expect(result[1].get("twin")).to be true
      expect(result[2].get("message")).to eq("y")
    end

    it "never hands already-cancelled inputs to the filter" do
      cancelled = LogStash::Event.new("message" => "gone")
      cancelled.cancel
      result = described_class.run_batch(probe, [cancelled, LogStash::Event.new("message" => "kept")])
      expect(result.map { |e| e.get("message") }).to eq(["kept"])
      expect(probe.drain(probe.batch_sizes)).to eq([1])
    end

    it "cuts batches of pipeline.batch.size (125 by default)" do
      described_class.run_batch(probe, Array.new(300) { |i| { "n" => i } })
      expect(probe.drain(probe.batch_sizes)).to eq([125, 125, 50])
    end

    it "sends one-event batches in ordered mode" do
      described_class.run_batch(probe, Array.new(3) { |i| { "n" => i } }, :ordered => true)
      expect(probe.drain(probe.batch_sizes)).to eq([1, 1, 1])
    end

    it "shares one filter instance between concurrent workers, results in batch order" do
      events = Array.new(40) { |i| { "n" => i } }
      result = described_class.run_batch(probe, events, :batch_size => 5, :workers => 4)
      expect(result.map { |e| e.get("n") }).to eq((0...40).to_a)
      expect(probe.drain(probe.threads).uniq.size).to be > 1
    end

    it "counts events in and out like the filter delegator" do
      pipeline = LogStashStandIn::Pipeline.new(probe)
      pipeline.push([{ "a" => 1 }, { "drop" => true }, { "twin_me" => true }])
      expect(pipeline.stats[:in]).to eq(3)
      expect(pipeline.stats[:out]).to eq(3)
    end

    it "injects a recording metric before register" do
      metric = LogStashStandIn::RecordingMetric.new
      recorder = Class.new(StandInSpec::BatchProbe) do
        def register
          super
          @metric_at_register = metric
        end
        attr_reader :metric_at_register
      end.new({})
      described_class.run_batch(recorder, ["x"], :metric => metric)
      expect(recorder.metric_at_register).to equal(metric)
    end

    it "rejects a multi_filter that does not return events" do
      expect { described_class.run_batch(StandInSpec::BadReturn.new({}), ["x"]) }
        .to raise_error(TypeError, /must return an Array of LogStash::Event/)
    end

    it "lets an exception escaping the filter stop the run, from any worker" do
      exploding = StandInSpec::Exploding.new({})
      expect { described_class.run_batch(exploding, ["x"]) }.to raise_error(IOError, "boom")
      expect { described_class.run_batch(StandInSpec::Exploding.new({}), Array.new(10) { "x" }, :batch_size => 1, :workers => 3) }
        .to raise_error(IOError, "boom")
    end

    it "propagates a failing register" do
      expect { described_class.run_batch(StandInSpec::FailingRegister.new({}), ["x"]) }
        .to raise_error(LogStash::ConfigurationError, "cannot reach memcached")
    end
  end

  describe ".sample" do
    it "returns one event for one result, an Array for more, nil for none" do
      expect(described_class.sample(probe, "message" => "one")).to be_a(LogStash::Event)
      expect(described_class.sample(probe, [{ "twin_me" => true }])).to be_an(Array)
      expect(described_class.sample(probe, [{ "drop" => true }])).to be_nil
    end

    it "takes Strings as the message" do
      expect(described_class.sample(probe, "hello").get("message")).to eq("hello")
    end
  end

  describe "Pipeline#close" do
    it "closes a registered filter through do_close" do
      pipeline = LogStashStandIn::Pipeline.new(probe)
      pipeline.push(["x"])
      pipeline.close
      expect(probe.closed).to be true
    end
  end
end
