# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Instrument::NullMetric and
# NamespacedNullMetric: the metric a plugin gets when nothing injected one
# (unit specs) or when `enable_metric => false`. Every call is accepted and
# dropped; `time` still runs its block.
require "logstash/namespace"

module LogStash
  module Instrument
    class MetricNoKeyProvided < ::StandardError; end

    class NullCounter
      def increment(_value = 1); end

      def decrement(_value = 1); end

      def value
        0
      end

      def reset; end
    end

    class NullTimedExecution
      def self.stop
        0
      end
    end

    class NullMetric
      attr_reader :collector

      def initialize(collector = nil)
        @collector = collector
      end

      def increment(_namespace, key, _value = 1)
        check_key(key)
        nil
      end

      def decrement(_namespace, key, _value = 1)
        check_key(key)
        nil
      end

      def gauge(_namespace, key, _value)
        check_key(key)
        nil
      end

      def report_time(_namespace, key, _duration)
        check_key(key)
        nil
      end

      def time(_namespace, key)
        check_key(key)
        block_given? ? yield : NullTimedExecution
      end

      def namespace(name)
        NamespacedNullMetric.new(self, name)
      end

      private

      def check_key(key)
        raise MetricNoKeyProvided if key.nil? || (key.respond_to?(:empty?) && key.empty?)
      end
    end

    class NamespacedNullMetric
      attr_reader :namespace_name

      def initialize(metric = nil, namespace_name = :null)
        @metric = metric.is_a?(NullMetric) ? metric : NullMetric.new(metric)
        @namespace_name = Array(namespace_name)
      end

      def collector
        @metric.collector
      end

      def counter(_key)
        NullCounter.new
      end

      def increment(key, value = 1)
        @metric.increment(@namespace_name, key, value)
      end

      def decrement(key, value = 1)
        @metric.decrement(@namespace_name, key, value)
      end

      def gauge(key, value)
        @metric.gauge(@namespace_name, key, value)
      end

      def report_time(key, duration)
        @metric.report_time(@namespace_name, key, duration)
      end

      def time(key, &block)
        @metric.time(@namespace_name, key, &block)
      end

      def namespace(name)
        NamespacedNullMetric.new(@metric, @namespace_name + Array(name))
      end
    end
  end
end
