# encoding: utf-8
# Issue 7: the plugin under memcached faults. One long run of Logstash
# batches (125 events, two pipeline workers sharing one filter) through the
# real filter, the real native library and a real memcached process, with a
# TCP proxy of ours in between that makes memcached slow, stalled, send
# garbage, or vanish (memcached killed, its port refusing connections) and
# come back. See spec/reliability/support/soak.rb for what is checked on
# every event.
#
# `scripts/test` runs the short version (20,000 events); the long one
# (200,000 events, a 10 s outage) is `tests/faults/plugin_long_run`, which
# sets the MISP_ENRICH_SOAK_* variables below. Both write their rows to
# target/reliability/ for docs/RELIABILITY.md.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"
require_relative "support/fault_proxy"
require_relative "support/memcached_tools"
require_relative "support/record"
require_relative "support/soak"

module SoakSettings
  EVENTS = Integer(ENV.fetch("MISP_ENRICH_SOAK_EVENTS", "20000"))
  OUTAGE = Float(ENV.fetch("MISP_ENRICH_SOAK_OUTAGE", "4"))
  FAULT = Float(ENV.fetch("MISP_ENRICH_SOAK_FAULT_SECONDS", "3"))
  RECORD = ENV.fetch("MISP_ENRICH_SOAK_RECORD", "plugin-faults")
  TITLE = ENV.fetch("MISP_ENRICH_SOAK_TITLE", "Plugin under memcached faults (short run, scripts/test)")
  # Bounds on growth between the end of the warm-up (the cache is full by
  # then) and the end of the run. The long run pins the JVM heap
  # (-Xms = -Xmx, pre-touched), so its RSS growth is native memory only.
  HEAP_GROWTH_MB = Integer(ENV.fetch("MISP_ENRICH_SOAK_HEAP_GROWTH_MB", "48"))
  RSS_GROWTH_MB = Integer(ENV.fetch("MISP_ENRICH_SOAK_RSS_GROWTH_MB", "256"))
  MALLOC_GROWTH_MB = Integer(ENV.fetch("MISP_ENRICH_SOAK_MALLOC_GROWTH_MB", "48"))
  # Headroom for a loaded machine: phases without a fault must see no
  # timeout at all (the io timeout is half of it).
  TIMEOUT_MS = 1_500
  # Generous: the machine is a shared 2-core box, and the proxy and the
  # pipeline share one JVM (and its GC pauses).
  BATCH_MARGIN = 2.0
  # The engine's breaker backoff (5 s, not a plugin option) plus slack.
  RECOVERY_BOUND = 20.0
  DELAY_SLOW = 0.1
  # Longer than the batch bound: an engine that did not bound its wait
  # would break it.
  DELAY_STALL = 5.0
end

RSpec.describe "misp_enrich under memcached faults" do
  def mb(bytes)
    format("%.1f MB", bytes / 1_048_576.0)
  end

  it "passes every event exactly once, tags what could not be looked up, bounds every batch, and recovers" do
    s = SoakSettings
    record = SpecSupport::ReliabilityRecord.new(s::RECORD, s::TITLE)
    memcached = SpecSupport::MemcachedServer.new
    proxy = SpecSupport::FaultProxy.new(memcached.port)
    filter = LogStash::Filters::MispEnrich.new(
      "memcached" => [proxy.addr], "fields" => SpecSupport::Soak::FIELDS, "timeout_ms" => s::TIMEOUT_MS,
      "cache_size" => 10_000, "tag_on_failure" => [SpecSupport::Soak::FAILURE_TAG]
    )
    soak = SpecSupport::Soak.new(filter, memcached: memcached)
    soak.load_indicators(memcached.port)
    n = s::EVENTS
    recoveries = []
    recover = lambda do |after|
      r = soak.phase("recovery after #{after}", :degraded, chunk: 250, pause: 0.05, until_clean: true,
                                                           deadline: s::RECOVERY_BOUND, late_share: 0.05)
      recoveries << r
      r
    end

    begin
      soak.phase("warm-up, no fault", :strict, events: (n * 0.3).to_i)
      base = soak.sample_memory("after warm-up")

      proxy.delay = s::DELAY_SLOW
      proxy.mode = :delay
      slow = soak.phase("memcached slow: proxy holds each reply #{(s::DELAY_SLOW * 1000).round} ms " \
                        "(io timeout #{s::TIMEOUT_MS / 2} ms)", :degraded, events: (n * 0.05).to_i, chunk: 1_000)
      proxy.mode = :pass

      proxy.delay = s::DELAY_STALL
      proxy.mode = :delay
      stall = soak.phase("memcached stalled: proxy holds each reply #{s::DELAY_STALL} s, for #{s::FAULT} s",
                         :degraded, seconds: s::FAULT, chunk: 250, pause: 0.05, all_fail: true)
      proxy.mode = :pass
      recover.call("the stall")
      soak.phase("normal after the stall", :strict, events: (n * 0.1).to_i)
      soak.sample_memory("normal after the stall")

      proxy.mode = :garbage
      garbage = soak.phase("memcached sends garbage (#{SpecSupport::FaultProxy::GARBAGE.size} kinds in turn), " \
                           "for #{s::FAULT} s", :degraded, seconds: s::FAULT, chunk: 250, pause: 0.05, all_fail: true)
      proxy.mode = :pass
      recover.call("the garbage")
      soak.phase("normal after the garbage", :strict, events: (n * 0.1).to_i)
      soak.sample_memory("normal after the garbage")

      proxy.down!
      memcached.stop
      down = soak.phase("memcached stopped (killed, port refusing connections) for #{s::OUTAGE} s",
                        :degraded, seconds: s::OUTAGE, chunk: 250, pause: 0.05, all_fail: true)
      memcached.start
      soak.load_indicators(memcached.port) # what misp-load does after a restart
      proxy.up!
      recover.call("the restart")
      soak.phase("normal after the restart", :strict, events: [n - soak.total, (n * 0.1).to_i].max)
      soak.sample_memory("end of run")
      stats = filter.instance_variable_get(:@engine).stats
    ensure
      filter.close
      proxy.stop
      memcached.stop
    end

    in_count = soak.events_in
    out_count = soak.events_out
    # A leak grows with every batch, so it shows in every late sample; the
    # native heap also swings by tens of MB with the JIT's work of the
    # moment, so growth is taken on the lower of the last two samples.
    late = soak.samples.last(2)
    heap_growth = late.map(&:heap_bytes).min - base.heap_bytes
    rss_growth = (late.map(&:rss_kb).min - base.rss_kb) * 1024
    malloc_growth = base.malloc_bytes ? late.map { |m| m.malloc_bytes.to_i }.min - base.malloc_bytes : 0
    bound = s::TIMEOUT_MS / 1000.0 + s::BATCH_MARGIN

    soak.phases.each do |p|
      checked = case p.kind
                when :strict then "every event out once; no failure tag; enriched exactly when holding an indicator, with its ids"
                else "every event out once; never a wrong enrichment; an indicator is enriched or tagged" \
                     "#{p.all_fail ? '; every event with uncached values tagged' : ''}"
                end
      verdict = p.problems.empty? ? "pass" : "FAIL (#{p.problems.first})"
      extra = p.equal?(garbage) ? "; garbage replies sent: #{proxy.garbage_sent.map { |k, v| "#{k} #{v}" }.join(', ')}" : ""
      record.row(p.name, checked, "#{verdict}: #{p.summary}#{extra}")
    end
    record.row("every event of the run", "events in = out = sent; each id seen once (bit set); no duplicates",
               "#{in_count == out_count && out_count == soak.total && soak.all_seen_once? ? 'pass' : 'FAIL'}: " \
               "#{soak.total} sent, #{in_count} in, #{out_count} out, #{soak.duplicates} duplicates")
    record.row("batch wall time", "every multi_filter call (#{soak.phases.sum(&:batches)} batches) ≤ timeout_ms + #{s::BATCH_MARGIN} s",
               "#{soak.max_batch <= bound ? 'pass' : 'FAIL'}: max #{format('%.3f', soak.max_batch)} s " \
               "(timeout #{s::TIMEOUT_MS} ms, bound #{bound} s)")
    record.row("recovery", "after each fault, a chunk with no tag and first-time indicators enriched, within #{s::RECOVERY_BOUND} s",
               "#{recoveries.all?(&:clean) ? 'pass' : 'FAIL'}: " + recoveries.map { |r| "#{format('%.1f', r.seconds)} s" }.join(", "))
    memory_ok = heap_growth <= s::HEAP_GROWTH_MB * 1_048_576 && rss_growth <= s::RSS_GROWTH_MB * 1_048_576 &&
                malloc_growth <= s::MALLOC_GROWTH_MB * 1_048_576
    record.row("memory", "from the end of warm-up (cache full) to the lower of the last two samples: JVM heap after GC " \
                         "grows ≤ #{s::HEAP_GROWTH_MB} MB, native heap (glibc malloc in use) ≤ #{s::MALLOC_GROWTH_MB} MB, " \
                         "RSS ≤ #{s::RSS_GROWTH_MB} MB",
               "#{memory_ok ? 'pass' : 'FAIL'}: growth heap #{mb(heap_growth)}, malloc #{mb(malloc_growth)}, " \
               "RSS #{mb(rss_growth)} (RSS/heap/malloc after " +
               soak.samples.map { |m| "#{m.events} events: #{mb(m.rss_kb * 1024)}/#{mb(m.heap_bytes)}/#{mb(m.malloc_bytes.to_i)}" }.join(", ") + ")")

    aggregate_failures do
      expect(soak.total).to be >= n
      expect([in_count, out_count]).to eq([soak.total, soak.total])
      expect(soak.duplicates).to eq(0)
      expect(soak.all_seen_once?).to be(true)
      soak.phases.each { |p| expect(p.problems).to eq([]), "#{p.name}: #{p.problems.first(5).join('; ')}" }
      [stall, garbage, down].each do |p|
        expect(p.fresh).to be > 0, "#{p.name} ran no events"
        expect(p.fresh_tagged).to eq(p.fresh), "#{p.name}: #{p.fresh - p.fresh_tagged} events not tagged"
      end
      # The proxy really slowed memcached down, and slow-but-in-time answers still enrich.
      expect(slow.max_batch).to be >= s::DELAY_SLOW * 0.9
      expect(slow.hits_enriched).to be >= slow.hits / 2
      # The breaker lets only a few replies through while they are garbage;
      # garbage_replies_spec.rb sends every kind.
      expect(proxy.garbage_sent.values.sum).to be > 0
      expect(recoveries.map(&:clean)).to all(be(true))
      expect(soak.max_batch).to be <= bound
      expect(heap_growth).to be <= s::HEAP_GROWTH_MB * 1_048_576
      expect(rss_growth).to be <= s::RSS_GROWTH_MB * 1_048_576
      expect(base.malloc_bytes).not_to be_nil, "glibc mallinfo2 is not available"
      expect(malloc_growth).to be <= s::MALLOC_GROWTH_MB * 1_048_576
      expect(stats["failed_slots"]).to be > 0
    end
  end
end
