# encoding: utf-8
# Test-only (never shipped): a tiny stand-in for the part of a Logstash
# pipeline that drives one filter, with the contract of the real one:
#
#   * register once (before any batch); a failing register propagates;
#   * inputs already cancelled never reach the filter;
#   * the filter is driven through multi_filter only (FilterDelegatorExt
#     never calls `filter` directly), with whole batches (default 125,
#     pipeline.batch.size) or one-event batches when `ordered: true`;
#   * several workers share ONE filter instance and call multi_filter
#     concurrently (`workers: n`);
#   * cancelled events in multi_filter's result are dropped
#     (Utils.copyNonCancelledEvents), and events.in / events.out /
#     duration_in_millis are counted like the filter delegator does;
#   * an exception escaping multi_filter stops "the pipeline": it is
#     re-raised to the caller.
require "logstash/event"
require "logstash_stand_in/recording_metric"

module LogStashStandIn
  class Pipeline
    attr_reader :filter, :events_metric

    # filter:     a LogStash::Filters::Base instance (created, not registered)
    # batch_size: events per multi_filter call (unordered execution)
    # ordered:    true sends one-event batches (pipeline.ordered)
    # workers:    threads calling multi_filter concurrently on the one filter
    # metric:     a RecordingMetric injected as the plugin's metric (optional)
    def initialize(filter, batch_size: 125, ordered: false, workers: 1, metric: nil)
      raise ArgumentError, "batch_size must be positive" unless batch_size.to_i > 0
      raise ArgumentError, "workers must be positive" unless workers.to_i > 0
      @filter = filter
      @batch_size = ordered ? 1 : batch_size.to_i
      @workers = workers.to_i
      @registered = false
      @closed = false
      filter.metric = metric if metric
      @events_metric = RecordingMetric.new([:events])
    end

    REGISTERED = :@__logstash_stand_in_registered
    REGISTER_LOCK = Mutex.new

    # Registers the filter unless some pipeline already did.
    def register
      REGISTER_LOCK.synchronize do
        unless @filter.instance_variable_get(REGISTERED)
          @filter.register
          @filter.instance_variable_set(REGISTERED, true)
        end
        @registered = true
      end
    end

    # Runs events (LogStash::Event, Hash, or a String taken as "message")
    # through the filter; returns the surviving events in batch order.
    def push(events)
      raise "pipeline closed" if @closed
      register
      inputs = Array(events).map { |e| LogStashStandIn.to_event(e) }
      batches = inputs.each_slice(@batch_size).to_a
      results = @workers == 1 || batches.size <= 1 ? batches.map { |b| run_one(b) } : run_concurrently(batches)
      results.flatten(1)
    end

    def close
      return if @closed
      @closed = true
      @filter.do_close if @registered
    end

    def stats
      {
        :in => @events_metric.counter_value(:in) || 0,
        :out => @events_metric.counter_value(:out) || 0,
        :duration_in_millis => @events_metric.timer_value(:duration_in_millis) || 0
      }
    end

    private

    def run_one(batch)
      inputs = batch.reject(&:cancelled?)
      @events_metric.increment(:in, inputs.size)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      output = @filter.multi_filter(inputs)
      @events_metric.report_time(:duration_in_millis,
                                 ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000).to_i)
      unless output.is_a?(Array) && output.all? { |e| e.is_a?(LogStash::Event) }
        raise TypeError, "#{@filter.class}#multi_filter must return an Array of LogStash::Event, got #{output.inspect[0, 200]}"
      end
      kept = output.reject(&:cancelled?)
      @events_metric.increment(:out, kept.size)
      kept
    end

    def run_concurrently(batches)
      queue = Queue.new
      batches.each_with_index { |batch, index| queue << [batch, index] }
      results = Array.new(batches.size)
      results_lock = Mutex.new
      failures = Queue.new
      threads = Array.new([@workers, batches.size].min) do
        Thread.new do
          loop do
            item = begin
                     queue.pop(true)
                   rescue ThreadError
                     break
                   end
            begin
              output = run_one(item[0])
              results_lock.synchronize { results[item[1]] = output }
            rescue Exception => e # rubocop:disable Lint/RescueException
              failures << e
              break
            end
          end
        end
      end
      threads.each(&:join)
      raise failures.pop unless failures.empty?
      results
    end
  end
end
