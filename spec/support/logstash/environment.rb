# encoding: utf-8
# Test-only stand-in (never shipped): LogStash::SETTINGS with the few
# settings a filter can observe. `pipeline.ecs_compatibility` defaults to
# "v8" as in Logstash 8.x/9.x and accepts disabled/v1/v8.
#
# Specs change it with LogStashStandIn.pipeline_ecs_compatibility = :v1
# (restored before each example by logstash_stand_in.rb).
require "logstash/namespace"

module LogStashStandIn
  class Settings
    Definition = Struct.new(:name, :default, :allowed, :type)

    DEFINITIONS = [
      Definition.new("pipeline.id", "main", nil, String),
      Definition.new("pipeline.ecs_compatibility", "v8", %w(disabled v1 v8), String),
      Definition.new("pipeline.batch.size", 125, nil, Integer),
      Definition.new("pipeline.workers", 1, nil, Integer),
      Definition.new("pipeline.ordered", "auto", %w(auto true false), String)
    ].map { |d| [d.name, d] }.to_h.freeze

    def initialize(values = {})
      @values = {}
      @lock = Mutex.new
      values.each { |name, value| set_value(name, value) }
    end

    def get_value(name)
      definition(name)
      @lock.synchronize { @values.key?(name) ? @values[name] : DEFINITIONS[name].default }
    end
    alias_method :get, :get_value

    def set_value(name, value)
      d = definition(name)
      unless value.is_a?(d.type)
        raise ArgumentError, "Setting \"#{name}\" must be a #{d.type}. Received: #{value.inspect} (#{value.class})"
      end
      if d.allowed && !d.allowed.include?(value)
        raise ArgumentError, "Invalid value \"#{name}: #{value}\". Options are: #{d.allowed.inspect}"
      end
      @lock.synchronize { @values[name] = value }
    end
    alias_method :set, :set_value

    def set?(name)
      definition(name)
      @lock.synchronize { @values.key?(name) }
    end

    def registered?(name)
      DEFINITIONS.key?(name)
    end

    def reset
      @lock.synchronize { @values.clear }
    end

    def reset_value(name)
      definition(name)
      @lock.synchronize { @values.delete(name) }
    end

    def clone
      copy = Settings.new
      @lock.synchronize { @values.each { |name, value| copy.set_value(name, value) } }
      copy
    end

    private

    def definition(name)
      DEFINITIONS.fetch(name) { raise ArgumentError, "Setting \"#{name}\" doesn't exist. Please check if you haven't made a typo." }
    end
  end
end

module LogStash
  SETTINGS = LogStashStandIn::Settings.new unless const_defined?(:SETTINGS)

  module Environment
    def self.load_locale!; end
  end
end
