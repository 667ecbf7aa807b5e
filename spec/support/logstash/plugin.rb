# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Plugin (logstash-core
# lib/logstash/plugin.rb, 8.x/9.x): params, id, logger, metric,
# execution_context, ecs_compatibility, close.
require "securerandom"
require "logstash/namespace"
require "logstash/util"
require "logstash/logging"
require "logstash/config/mixin"
require "logstash/execution_context"
require "logstash/instrument/null_metric"
require "logstash/plugins/ecs_compatibility_support"

module LogStash
  class Plugin
    include LogStash::Util::Loggable
    include LogStash::Config::Mixin
    include LogStash::Plugins::ECSCompatibilitySupport

    attr_accessor :params

    NL = "\n".freeze

    config :enable_metric, :validate => :boolean, :default => true
    config :id, :validate => :string

    # Logstash sets the execution context before the plugin's own
    # initialize runs (a prepended initializer, ContextualizerExt); do the
    # same so that initialize can already read execution_context and
    # ecs_compatibility. The context comes from
    # LogStashStandIn.with_execution_context, else a pipeline "main" whose
    # settings are LogStash::SETTINGS.
    def self.new(*args, &block)
      instance = allocate
      context = Thread.current[:logstash_stand_in_execution_context] ||
                LogStash::ExecutionContext.new(
                  LogStash::ExecutionContext::PipelineStub.new(LogStash::SETTINGS.get_value("pipeline.id"), LogStash::SETTINGS)
                )
      instance.instance_variable_set(:@execution_context, context)
      instance.__send__(:initialize, *args, &block)
      instance
    end

    def initialize(params = {}, _dlq = nil)
      @logger = logger
      @deprecation_logger = deprecation_logger
      @slow_logger = slow_logger
      @params = LogStash::Util.deep_clone(params)
      @params["id"] ||= "#{self.class.config_name}_#{SecureRandom.uuid}"
    end

    def execution_context
      @execution_context || LogStash::ExecutionContext::Empty
    end

    def id
      @params["id"]
    end

    def hash
      params.hash ^ self.class.name.hash
    end

    def eql?(other)
      self.class.name == other.class.name && @params == other.params
    end

    def do_close
      @logger.debug("Closing", :plugin => self.class.name)
      close
    end

    # Subclasses release their resources here.
    def close; end

    def to_s
      "#{self.class.name}: #{@params}"
    end

    def inspect
      return "<#{self.class.name} --->" if @params.nil?
      description = @params.reject { |_k, v| v.nil? || (v.respond_to?(:empty?) && v.empty?) }
                           .map { |k, v| "#{k}=>#{v.inspect}" }
      "<#{self.class.name} #{description.join(', ')}>"
    end

    def reloadable?
      self.class.reloadable?
    end

    def self.reloadable?
      true
    end

    def debug_info
      [self.class.to_s, original_params]
    end

    # The pipeline injects the plugin's namespaced metric right after
    # initialize and before register. `metric` memoizes its first answer: a
    # plugin that reads it in initialize keeps a null metric, as in Logstash.
    def metric=(new_metric)
      @metric = new_metric
    end

    def metric
      @metric_plugin ||= if @enable_metric
                           @metric.nil? ? LogStash::Instrument::NamespacedNullMetric.new : @metric
                         else
                           LogStash::Instrument::NamespacedNullMetric.new(@metric, :null)
                         end
    end

    def config_name
      self.class.config_name
    end
  end
end
