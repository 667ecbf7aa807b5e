# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::ExecutionContext: what a
# plugin sees of the pipeline it runs in (pipeline, pipeline_id, agent,
# dlq_writer). Logstash sets it before the plugin's own initialize runs;
# LogStash::Plugin.new does the same here (see LogStashStandIn.with_execution_context).
require "logstash/namespace"
require "logstash/environment"

module LogStash
  class ExecutionContext
    # The pipeline object as plugins see it: an id and its settings.
    class PipelineStub
      attr_reader :pipeline_id, :settings

      def initialize(pipeline_id, settings)
        @pipeline_id = pipeline_id
        @settings = settings
      end
    end

    # A dead-letter-queue writer that is never enabled.
    class NullDeadLetterQueueWriter
      def enabled?
        false
      end

      def write(_event, _reason); end
    end

    attr_reader :pipeline, :agent, :dlq_writer

    def initialize(pipeline = nil, agent = nil, dlq_writer = NullDeadLetterQueueWriter.new)
      @pipeline = pipeline
      @agent = agent
      @dlq_writer = dlq_writer
    end

    def pipeline_id
      @pipeline && @pipeline.pipeline_id
    end

    # No pipeline at all (what a bare unit spec gets in Logstash).
    Empty = new(nil, nil)
  end
end
