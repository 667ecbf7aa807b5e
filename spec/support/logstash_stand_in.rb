# encoding: utf-8
# Test-only (never shipped): entry point of the Logstash plugin-API stand-in
# under which the plugin's specs run on plain JRuby (no Logstash can be
# installed here). It lives in spec/support/ and is never part of the gem.
#
#   require "logstash_stand_in"          # loads the whole stand-in + helpers
#   require "logstash/filters/misp_enrich"
#
# The plugin itself requires only the real paths ("logstash/filters/base",
# "logstash/namespace", ...), which spec/support provides on $LOAD_PATH.
#
# Helpers:
#   LogStashStandIn.run_batch(filter, events, opts = {}) -> surviving events
#   LogStashStandIn.sample(filter, event_or_events, opts = {}) -> one event, nil or an Array
#   LogStashStandIn::Pipeline.new(filter, batch_size:, ordered:, workers:, metric:)
#   LogStashStandIn::RecordingMetric.new               -> plugin.metric = it
#   LogStashStandIn.pipeline_ecs_compatibility = :v1   (default "v8")
#   LogStashStandIn.with_pipeline_ecs_compatibility(:disabled) { ... }
#   LogStashStandIn.with_execution_context(pipeline_id: "p1", ecs_compatibility: :v1) { Klass.new(params) }
#   LogStashStandIn.reset!   (run before every example when RSpec is loaded)
#
# Logs: plugin.logger.messages / .messages(:warn) / .logged?(:warn, /text/);
# LogStash::Logging::Logger.level = :debug turns on debug? for all loggers.
require "logstash/namespace"
require "logstash/errors"
require "logstash/environment"
require "logstash/timestamp"
require "logstash/event"
require "logstash/json"
require "logstash/util"
require "logstash/util/password"
require "logstash/util/safe_uri"
require "logstash/util/decorators"
require "logstash/logging"
require "logstash/execution_context"
require "logstash/instrument/null_metric"
require "logstash/plugin"
require "logstash/filters/base"
require "logstash_stand_in/recording_metric"
require "logstash_stand_in/pipeline"

module LogStashStandIn
  module_function

  # A LogStash::Event from an Event (kept as is), a Hash, or a String
  # (taken as the "message", like devutils' sample).
  def to_event(item)
    case item
    when LogStash::Event then item
    when Hash then LogStash::Event.new(item)
    when String then LogStash::Event.new("message" => item)
    else raise ArgumentError, "cannot make a LogStash::Event of #{item.class}"
    end
  end

  # The stand-in pipeline of a filter, created on first use so that the
  # filter is registered exactly once however many batches it sees.
  def pipeline_for(filter, options = {})
    existing = filter.instance_variable_get(:@__logstash_stand_in_pipeline)
    return existing if existing && options.empty?
    pipeline = Pipeline.new(filter, **options)
    filter.instance_variable_set(:@__logstash_stand_in_pipeline, pipeline)
    pipeline
  end

  # Registers the filter (once per filter instance, whatever the number of
  # calls), runs the events through multi_filter like the pipeline does,
  # and returns the non-cancelled results. Options as for
  # LogStashStandIn::Pipeline (batch_size:, ordered:, workers:, metric:).
  # (Options are a plain Hash, not keywords, so that a braceless event Hash
  # such as `sample(f, "message" => "x")` stays an event on Ruby 3.)
  def run_batch(filter, events, options = {})
    pipeline_for(filter, options).push(events)
  end

  # devutils-style: one result -> that event, none -> nil, more -> Array.
  def sample(filter, events, options = {})
    results = run_batch(filter, events.is_a?(Hash) ? [events] : Array(events), options)
    if filter.respond_to?(:flush)
      flushed = filter.flush(:final => true)
      results.concat(Array(flushed).reject(&:cancelled?))
    end
    results.length > 1 ? results : results.first
  end

  # ---- pipeline settings ------------------------------------------------------

  def pipeline_ecs_compatibility
    LogStash::SETTINGS.get_value("pipeline.ecs_compatibility").to_sym
  end

  # "disabled", "v1" or "v8" (Symbols accepted); default "v8".
  def pipeline_ecs_compatibility=(mode)
    LogStash::SETTINGS.set_value("pipeline.ecs_compatibility", mode.to_s)
  end

  def with_pipeline_ecs_compatibility(mode)
    had = LogStash::SETTINGS.set?("pipeline.ecs_compatibility")
    previous = LogStash::SETTINGS.get_value("pipeline.ecs_compatibility")
    self.pipeline_ecs_compatibility = mode
    yield
  ensure
    LogStash::SETTINGS.set_value("pipeline.ecs_compatibility", previous) if had
    LogStash::SETTINGS.reset_value("pipeline.ecs_compatibility") unless had
  end

  # An execution context for a pipeline with its own settings.
  def execution_context(pipeline_id: "main", ecs_compatibility: nil)
    settings = LogStash::SETTINGS.clone
    settings.set_value("pipeline.id", pipeline_id.to_s)
    settings.set_value("pipeline.ecs_compatibility", ecs_compatibility.to_s) unless ecs_compatibility.nil?
    LogStash::ExecutionContext.new(LogStash::ExecutionContext::PipelineStub.new(pipeline_id.to_s, settings))
  end

  # Plugins created inside the block get this execution context (an
  # ExecutionContext, or options for execution_context above).
  def with_execution_context(context = nil, **options)
    context ||= execution_context(**options)
    previous = Thread.current[:logstash_stand_in_execution_context]
    Thread.current[:logstash_stand_in_execution_context] = context
    yield context
  ensure
    Thread.current[:logstash_stand_in_execution_context] = previous
  end

  # Back to a clean state: settings at their defaults, log level :info,
  # recorded log messages cleared.
  def reset!
    LogStash::SETTINGS.reset
    LogStash::Logging::Logger.reset!
    Thread.current[:logstash_stand_in_execution_context] = nil
  end
end

if defined?(RSpec) && RSpec.respond_to?(:configure)
  RSpec.configure do |config|
    config.before(:each) { LogStashStandIn.reset! }
  end
end
