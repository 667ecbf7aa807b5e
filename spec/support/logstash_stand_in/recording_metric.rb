# encoding: utf-8
# Test-only (never shipped): a metric that remembers what a plugin reported,
# with the API of Logstash's namespaced metric (increment, decrement, gauge,
# time, report_time, counter, namespace). Inject it before register:
#
#   metric = LogStashStandIn::RecordingMetric.new
#   plugin.metric = metric
#   plugin.register
#   ...
#   expect(metric.counter_value(:matches)).to eq(3)
#   expect(metric.namespace(:cache).gauge_value(:size)).to eq(10)
#   metric.snapshot  # => { [:matches] => 3, [:cache, :size] => 10, ... }
require "logstash/instrument/null_metric"

module LogStashStandIn
  class RecordingMetric
    # Shared by a metric and all namespaces derived from it.
    class Store
      def initialize
        @values = {}
        @kinds = {}
        @lock = Mutex.new
      end

      def add(path, delta, kind)
        @lock.synchronize do
          check_kind(path, kind)
          @values[path] = (@values[path] || 0) + delta
        end
      end

      def put(path, value, kind)
        @lock.synchronize do
          check_kind(path, kind)
          @values[path] = value
        end
      end

      def get(path)
        @lock.synchronize { @values[path] }
      end

      def kind(path)
        @lock.synchronize { @kinds[path] }
      end

      def to_h
        @lock.synchronize { @values.dup }
      end

      private

      # Logstash refuses to reuse a key as another metric type.
      def check_kind(path, kind)
        existing = @kinds[path]
        if existing && existing != kind
          raise TypeError, "metric #{path.inspect} is a #{existing}, not a #{kind}"
        end
        @kinds[path] = kind
      end
    end

    # What `metric.counter(:key)` hands out.
    class Counter
      def initialize(metric, key)
        @metric = metric
        @key = key
      end

      def increment(value = 1)
        @metric.increment(@key, value)
      end

      def decrement(value = 1)
        @metric.decrement(@key, value)
      end

      def value
        @metric.counter_value(@key) || 0
      end
    end

    # What `metric.time(:key)` returns without a block.
    class TimedExecution
      def initialize(metric, key)
        @metric = metric
        @key = key
        @started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end

      def stop
        elapsed = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - @started) * 1000).to_i
        @metric.report_time(@key, elapsed)
        elapsed
      end
    end

    attr_reader :namespace_name

    def initialize(namespace_name = [], store = Store.new)
      @namespace_name = Array(namespace_name).map(&:to_sym).freeze
      @store = store
    end

    def collector
      @store
    end

    def increment(key, value = 1)
      @store.add(path(key), value, :counter)
      nil
    end

    def decrement(key, value = 1)
      @store.add(path(key), -value, :counter)
      nil
    end

    def gauge(key, value)
      @store.put(path(key), value, :gauge)
      nil
    end

    # Duration in milliseconds, accumulated like Logstash's timer metric.
    def report_time(key, duration)
      @store.add(path(key), duration, :timer)
      nil
    end

    def time(key)
      return TimedExecution.new(self, key) unless block_given?
      timer = TimedExecution.new(self, key)
      begin
        yield
      ensure
        timer.stop
      end
    end

    def counter(key)
      path(key)
      Counter.new(self, key)
    end

    def namespace(name)
      RecordingMetric.new(@namespace_name + Array(name).map(&:to_sym), @store)
    end

    # ---- reading back --------------------------------------------------------

    def counter_value(key)
      value_of(key, :counter)
    end

    def gauge_value(key)
      value_of(key, :gauge)
    end

    def timer_value(key)
      value_of(key, :timer)
    end

    # Counters, gauges and timers directly under this namespace: {key => value}.
    def values
      prefix = @namespace_name
      @store.to_h.each_with_object({}) do |(full, value), result|
        next unless full.size == prefix.size + 1 && full[0, prefix.size] == prefix
        result[full.last] = value
      end
    end

    # Everything under this namespace, keys relative to it.
    def snapshot
      prefix = @namespace_name
      @store.to_h.each_with_object({}) do |(full, value), result|
        next unless full.size > prefix.size && full[0, prefix.size] == prefix
        result[full[prefix.size..-1]] = value
      end
    end

    private

    def path(key)
      if key.nil? || (key.respond_to?(:empty?) && key.empty?)
        raise LogStash::Instrument::MetricNoKeyProvided, "A key is required"
      end
      (@namespace_name + [key.to_sym]).freeze
    end

    def value_of(key, kind)
      full = path(key)
      found = @store.kind(full)
      return nil if found.nil?
      raise TypeError, "metric #{full.inspect} is a #{found}, not a #{kind}" unless found == kind
      @store.get(full)
    end
  end
end
