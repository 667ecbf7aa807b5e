# encoding: utf-8
# Test-only: a long run of Logstash batches through one misp_enrich filter
# shared by two pipeline workers (SpecSupport::FilterDriver), with
# faults injected between phases, checking every event that comes out.
#
# Events carry a unique id ([soak][id]) and are of three kinds:
#   :none  no field the filter looks at (must never be tagged or enriched);
#   :warm  one value from a small pool of indicators looked up over and over
#          (so normally answered from the engine's cache);
#   :fresh three values never looked up before (IP, domain, upper-case
#          SHA-256), one of which may be an indicator: a "late" one (first
#          lookup ever) or a warm one.
# What a phase checks, per event:
#   :strict    no failure tag; enriched exactly when it holds an indicator,
#              with exactly that indicator's MISP event ids;
#   :degraded  never a wrong enrichment; an event holding an indicator is
#              enriched with it or tagged (never silently passed);
#              with all_fail, every :fresh event must be tagged (its values
#              cannot be in the cache, and memcached cannot answer).
# Ids are marked in a bit set: a second sighting is a duplicate, a hole at
# the end a lost event. Every multi_filter call is timed.
require "java"
require "ffi"
require "set"
require "logstash/event"

module SpecSupport
  class Soak
    BATCH_SIZE = 125
    WORKERS = 2
    FAILURE_TAG = "_misp_reliability_failure".freeze
    FIELDS = ["[destination][ip]", "[dns][question][name]", "[hash][sha256]"].freeze

    PhaseStats = Struct.new(:name, :kind, :events, :fresh, :tagged, :fresh_tagged, :enriched, :hits,
                            :hits_enriched, :hits_tagged, :wrong, :silent_misses, :untagged_fresh,
                            :batches, :max_batch, :seconds, :clean, :all_fail, :problems) do
      def summary
        "#{events} events, #{tagged} tagged, #{hits_enriched}/#{hits} indicator events enriched " \
          "(#{hits_tagged} tagged), max batch #{format('%.3f', max_batch)} s over #{batches} batches"
      end
    end

    MemorySample = Struct.new(:label, :events, :rss_kb, :heap_bytes, :malloc_bytes)

    # glibc's count of bytes malloc has handed out and not taken back: the
    # native heap (the Rust library allocates through malloc), which RSS
    # shows only coarsely next to the JVM's own mappings.
    module LibC
      extend FFI::Library
      ffi_lib FFI::Library::LIBC

      class MallInfo2 < FFI::Struct
        layout :arena, :size_t, :ordblks, :size_t, :smblks, :size_t, :hblks, :size_t, :hblkhd, :size_t,
               :usmblks, :size_t, :fsmblks, :size_t, :uordblks, :size_t, :fordblks, :size_t, :keepcost, :size_t
      end

      begin
        attach_function :mallinfo2, [], MallInfo2.by_value
      rescue FFI::NotFoundError
        nil
      end

      def self.in_use
        return nil unless respond_to?(:mallinfo2)
        info = mallinfo2
        info[:uordblks] + info[:hblkhd]
      end
    end

    attr_reader :phases, :samples, :total, :duplicates, :warm, :events_in, :events_out

    # memcached: the SpecSupport::MemcachedServer behind the proxy;
    # indicators: see #indicator_keys.
    def initialize(filter, memcached:, late_pool: 20_000)
      @filter = filter
      @memcached = memcached
      @events_in = 0
      @events_out = 0
      @seen = java.util.BitSet.new
      @next_id = 0
      @late_next = 0
      @late_pool = late_pool
      @rng = Random.new(42)
      @phases = []
      @samples = []
      @duplicates = 0
      @timings = java.util.concurrent.ConcurrentLinkedQueue.new
      instrument(filter)
      @warm = warm_indicators
    end

    # [namespace, value, entries] of every indicator the run uses; store them
    # (again after a restart) with #load_indicators.
    def indicators
      late = (0...@late_pool).map { |i| late_indicator(i) }
      @warm + late
    end

    def load_indicators(port)
      pairs = indicators.map do |ns, value, ids|
        status, key = MispEnrich::Native.key(ns, value)
        raise "no key for #{value}: #{key}" unless status == :ok
        [key, ids.map { |id| "#{id}##{ns == 'ip' ? 'ip-dst' : ns}" }.join(",")]
      end
      MemcachedTools.load(port, pairs)
    end

    # Runs `events` events (at least) in chunks; with `seconds`, keeps
    # going, paced, until that much time has passed. Returns the PhaseStats.
    def phase(name, kind, events: 0, seconds: nil, chunk: 5_000, pause: 0.0, all_fail: false, late_share: 0.03,
              until_clean: false, deadline: nil)
      stats = PhaseStats.new(name, kind, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, false, all_fail, [])
      started = now
      @timings.clear
      done = 0
      loop do
        break if until_clean && deadline && now - started > deadline
        n = chunk
        n = [chunk, events - done].min if !seconds && !until_clean
        break if n <= 0
        clean = run_chunk(n, kind, stats, all_fail: all_fail, late_share: late_share)
        done += n
        if until_clean && clean
          stats.clean = true
          break
        end
        break if seconds && done >= events && now - started >= seconds
        sleep(pause) if pause > 0
      end
      stats.seconds = now - started
      times = []
      times << @timings.poll until @timings.empty?
      stats.batches = times.size
      stats.max_batch = times.max || 0.0
      @phases << stats
      stats
    end

    # Heap after a full collection, and the process's resident set.
    def sample_memory(label)
      2.times do
        java.lang.System.gc
        sleep 0.2
      end
      heap = java.lang.management.ManagementFactory.getMemoryMXBean.getHeapMemoryUsage.getUsed
      rss = File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
      sample = MemorySample.new(label, @next_id, rss, heap, LibC.in_use)
      @samples << sample
      sample
    end

    # Every id handed out was seen exactly once.
    def all_seen_once?
      @seen.cardinality == @next_id && @seen.nextClearBit(0) == @next_id && @duplicates.zero?
    end

    def total
      @next_id
    end

    def max_batch
      @phases.map(&:max_batch).max || 0.0
    end

    private

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    # Times every multi_filter call (the per-batch wall time a pipeline
    # worker sees).
    def instrument(filter)
      timings = @timings
      timer = Module.new do
        define_method(:multi_filter) do |events|
          t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          begin
            super(events)
          ensure
            timings.add(Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0)
          end
        end
      end
      filter.singleton_class.prepend(timer)
    end

    def warm_indicators
      ips = (0...100).map { |i| ["ip", "198.51.#{100 + i / 200}.#{i % 200 + 1}", [1_000 + i]] }
      domains = (0...100).map { |i| ["domain", "w#{i}.warm-hit.example", [2_000 + i, 9_000 + i]] }
      hashes = (0...100).map { |i| ["sha256", format("beef%060x", i), [3_000 + i]] }
      ips + domains + hashes
    end

    def late_indicator(i)
      case i % 3
      when 0 then ["ip", "100.#{64 + i / 65_536}.#{(i / 256) % 256}.#{i % 256}", [100_000 + i]]
      when 1 then ["domain", "l#{i}.late-hit.example", [100_000 + i]]
      else ["sha256", format("cafe%060x", i), [100_000 + i]]
      end
    end

    FIELD_OF = { "ip" => %w[destination ip], "domain" => %w[dns question name], "sha256" => %w[hash sha256] }.freeze

    # One event: [LogStash::Event, kind, expected ids (Array, sorted) or nil].
    def make_event(late_share)
      id = @next_id
      @next_id += 1
      roll = @rng.rand
      if roll < 0.02
        return [LogStash::Event.new("soak" => { "id" => id }, "message" => "no lookup field"), :none, nil]
      end
      if roll < 0.05
        ns, value, ids = @warm[@rng.rand(@warm.size)]
        data = { "soak" => { "id" => id } }
        put(data, ns, ns == "sha256" ? value.upcase : value)
        return [LogStash::Event.new(data), :warm, ids.map(&:to_s).sort]
      end
      data = {
        "soak" => { "id" => id },
        "destination" => { "ip" => "10.#{id >> 16 & 255}.#{id >> 8 & 255}.#{id & 255}" },
        "dns" => { "question" => { "name" => "e#{id}.fresh.example" } },
        "hash" => { "sha256" => format("%064X", id) }
      }
      expected = nil
      roll = @rng.rand
      if roll < late_share && @late_next < @late_pool
        ns, value, ids = late_indicator(@late_next)
        @late_next += 1
        put(data, ns, ns == "sha256" ? value.upcase : value)
        expected = ids.map(&:to_s).sort
      elsif roll < late_share + 0.03
        ns, value, ids = @warm[@rng.rand(@warm.size)]
        put(data, ns, value)
        expected = ids.map(&:to_s).sort
      end
      [LogStash::Event.new(data), :fresh, expected]
    end

    def put(data, ns, value)
      a, b, c = FIELD_OF.fetch(ns)
      if c
        data[a] = { b => { c => value } }
      else
        data[a] = { b => value }
      end
    end

    # Runs one chunk through the pipeline and checks every event. Returns
    # true when the chunk was clean: nothing tagged and every indicator
    # enriched (at least one of them first-time).
    def run_chunk(n, kind, stats, all_fail:, late_share:)
      made = Array.new(n) { make_event(late_share) }
      by_id = {}
      made.each { |event, k, expected| by_id[event.get("[soak][id]")] = [event, k, expected] }
      @events_in += made.size
      out = FilterDriver.run(@filter, made.map(&:first), batch_size: BATCH_SIZE, workers: WORKERS)
      @events_out += out.size
      stats.problems << "chunk of #{n}: #{out.size} events came out" if out.size != n
      clean = true
      late_hit = false
      out.each do |event|
        id = event.get("[soak][id]")
        entry = by_id.delete(id)
        if entry.nil? || !entry[0].equal?(event)
          stats.problems << "event #{id.inspect} came out but was not sent in this chunk"
          next
        end
        if @seen.get(id)
          @duplicates += 1
        else
          @seen.set(id)
        end
        _, k, expected = entry
        tags = event.get("tags") || []
        tagged = tags.include?(FAILURE_TAG)
        got = event.get("[misp][event_id]")
        got_ids = got ? got.sort : nil
        stats.events += 1
        stats.tagged += 1 if tagged
        stats.enriched += 1 if got
        clean = false if tagged
        if k == :fresh
          stats.fresh += 1
          stats.fresh_tagged += 1 if tagged
        end
        if expected
          stats.hits += 1
          stats.hits_enriched += 1 if got_ids == expected
          stats.hits_tagged += 1 if tagged
          clean = false unless got_ids == expected
          late_hit ||= k == :fresh && got_ids == expected && expected.first.to_i >= 100_000
        end
        if k == :none
          stats.problems << "event #{id} without lookup fields was tagged #{tags.inspect}" if tagged
          stats.problems << "event #{id} without lookup fields was enriched" if got
          next
        end
        # Never a wrong enrichment, in any phase: the ids written are the
        # indicator's (all of them when the event is not tagged).
        if got_ids && (expected.nil? || !(got_ids - expected).empty? || (!tagged && got_ids != expected))
          stats.wrong += 1
          stats.problems << "event #{id} enriched with #{got_ids.inspect}, expected #{expected.inspect}" if stats.wrong <= 5
        end
        # An indicator is never passed silently: enriched, or tagged.
        if expected && got_ids != expected && !tagged
          stats.silent_misses += 1
          stats.problems << "event #{id} holds indicator(s) #{expected.inspect} but was neither enriched nor tagged" if stats.silent_misses <= 5
        end
        case kind
        when :strict
          if tagged && stats.problems.size < 20
            stats.problems << "event #{id} tagged in a phase without faults"
          end
        when :degraded
          if all_fail && k == :fresh && !tagged
            stats.untagged_fresh += 1
            stats.problems << "event #{id} with values memcached could not answer was not tagged" if stats.untagged_fresh <= 5
          end
        end
      end
      stats.problems << "#{by_id.size} events of a chunk did not come out" unless by_id.empty?
      clean && late_hit
    end
  end
end
