# encoding: utf-8
# Test-only stand-in (never shipped) for logstash-core's built-in
# LogStash::Plugins::ECSCompatibilitySupport (in every plugin since 7.10):
#   * option `ecs_compatibility` accepting "disabled" or a v-prefixed major
#     ("v1", "v8", ...) -> :disabled / :v1 / :v8;
#   * reader `ecs_compatibility`: the explicit option, else the pipeline's
#     `pipeline.ecs_compatibility` setting (default "v8" in 8.x/9.x), read
#     once and memoized per instance.
require "logstash/namespace"
require "logstash/environment"

module LogStash
  module Plugins
    module ECSCompatibilitySupport
      def self.included(base)
        base.extend(ArgumentValidator)
        base.config(:ecs_compatibility, :validate => :ecs_compatibility_argument, :attr_accessor => false)
      end

      MUTEX = Mutex.new
      private_constant :MUTEX

      def ecs_compatibility
        @_ecs_compatibility || MUTEX.synchronize do
          @_ecs_compatibility ||= begin
            if @ecs_compatibility.nil?
              pipeline = execution_context.pipeline
              settings = (pipeline && pipeline.respond_to?(:settings) && pipeline.settings) || LogStash::SETTINGS
              settings.get_value("pipeline.ecs_compatibility").to_sym
            else
              @ecs_compatibility
            end
          end
        end
      end

      module ArgumentValidator
        V_PREFIXED_INTEGER_PATTERN = /\Av[1-9][0-9]?\z/

        def validate_value(value, validator)
          return super unless validator == :ecs_compatibility_argument
          value = hash_or_array(deep_replace(value))
          if value.size == 1
            return [true, :disabled] if value.first.to_s == "disabled"
            return [true, value.first.to_sym] if value.first.to_s =~ V_PREFIXED_INTEGER_PATTERN
          end
          [false, "Expected a v-prefixed integer major-version number (e.g., `v1`) or the literal `disabled`, got #{value.inspect}"]
        end
      end
    end
  end
end
