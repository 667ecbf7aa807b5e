# encoding: utf-8
# Drives one real filter instance the way a Logstash pipeline's workers do
# (logstash-core's WorkerLoop and FilterDelegatorExt): register once, then
# whole batches through `multi_filter`, several worker threads sharing the one
# instance, cancelled events dropped. Events, config, metrics and logging are
# logstash-core's own; this only replaces the input/queue/output plumbing so a
# spec can hand events in and read them back. Real pipelines run in
# tests/logstash.
module SpecSupport
  module FilterDriver
    module_function

    # A real metric (collector + store) namespaced like the one Logstash's
    # plugin factory hands a filter; returns [metric, collector].
    def metric(id = :misp_enrich_spec)
      collector = LogStash::Instrument::Collector.new
      root = LogStash::Instrument::Metric.new(collector)
      [root.namespace([:stats, :pipelines, :main, :plugins, :filters, id]), collector]
    end

    # The metric store's value at `path` below the filter's namespace, or nil.
    def metric_value(collector, *path, id: :misp_enrich_spec)
      base = [:stats, :pipelines, :main, :plugins, :filters, id]
      *namespace, key = base + path
      store = collector.snapshot_metric.metric_store
      store.get_shallow(*namespace)[key]&.value
    rescue LogStash::Instrument::MetricStore::MetricNotFound
      nil
    end

    # Runs events (LogStash::Event or Hash) through `filter` in batches of
    # `batch_size` on `workers` threads; registers the filter first unless
    # this driver already did. Returns the surviving events in input order.
    def run(filter, events, batch_size: 125, workers: 1)
      register(filter)
      inputs = events.map { |e| e.is_a?(LogStash::Event) ? e : LogStash::Event.new(e) }
      batches = inputs.each_slice(batch_size).to_a
      return batches.flat_map { |b| run_batch(filter, b) } if workers == 1 || batches.size <= 1
      queue = Queue.new
      batches.each_with_index { |b, i| queue << [b, i] }
      results = Array.new(batches.size)
      threads = Array.new([workers, batches.size].min) do
        Thread.new do
          loop do
            batch, index = begin
                             queue.pop(true)
                           rescue ThreadError
                             break
                           end
            results[index] = run_batch(filter, batch)
          end
        end
      end
      threads.each(&:join)
      results.flatten(1)
    end

    REGISTERED = :@__spec_registered
    LOCK = Mutex.new

    def register(filter)
      LOCK.synchronize do
        next if filter.instance_variable_get(REGISTERED)
        filter.register
        filter.instance_variable_set(REGISTERED, true)
      end
    end

    def run_batch(filter, batch)
      out = filter.multi_filter(batch.reject(&:cancelled?))
      raise TypeError, "multi_filter must return an Array of events, got #{out.class}" unless out.is_a?(Array)
      out.reject(&:cancelled?)
    end
  end
end
