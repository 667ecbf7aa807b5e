# encoding: utf-8
# Side-by-side benchmark of the enrichment step, run by bench/pipeline (which
# starts memcached and misp-sim and loads ~100k indicators with misp-load
# before calling this). Not a test: it measures; it only fails when the
# seed's chain and misp_enrich disagree on an event.
#
# Under JRuby, batch by batch (125 events), on the same generated
# Sysmon-shaped events:
#   seed    spec/support/seed_chain.rb: per seed field a Dalli GET with the
#           seed's namespace, then process_ioc.rb's parsing
#   cold    misp_enrich, a fresh instance (empty in-process cache)
#   warm    misp_enrich, the same instance again over the same events
#   floor   a filter that only reads the same four fields of each event
# with 1 and 2 worker threads sharing one filter instance, at each hit rate.
#
#   jruby bench/pipeline.rb speed  MEMCACHED_ADDR MISP_URL DATA_FILE
#   jruby bench/pipeline.rb memory MEMCACHED_ADDR MISP_URL [CACHE_SIZE]
#
# Environment: BENCH_EVENTS (events per run, default 50000), BENCH_REPS
# (runs per measurement, median reported, default 5), BENCH_HITS (percent,
# default "1 10"), BENCH_WORKERS (default "1 2"), BENCH_SEED (default 42),
# BENCH_NO_DISTINCT (skip the all-distinct set), BENCH_WARMUP_EVENTS (events
# through misp_enrich before timing, default 1000000), BENCH_WHERE (appended to
# each set's label, e.g. ", memcached behind latency-proxy").
# Runs on the real logstash-core of LOGSTASH_HOME (bench/pipeline sets it and
# GEM_PATH as scripts/spec does): its Event, Filters::Base, config and metrics.
root = File.expand_path("..", __dir__)
$LOAD_PATH.unshift(File.join(root, "spec/support"))
require "logstash_core"
LogStash::Logging::Logger.configure_logging(ENV["LOG_LEVEL"] || "warn")
require "logstash/filters/misp_enrich"
require "seed_chain"
require "memcached_server"
require "ipaddr"
require "json"
require "set"
require "java"

module PipelineBench
  SEED_FIELDS = SeedChain::FIELDS.map(&:first).freeze
  BATCH = 125
  FIXTURES = File.join(File.expand_path("..", __dir__), "spec/fixtures/winlogbeat-sysmon")

  # ---------------------------------------------------------------- filters

  # The seed's four memcached + ruby(process_ioc.rb) + mutate blocks, as one
  # Logstash filter driven through the default Filters::Base#multi_filter
  # (logstash-filter-memcached has no multi_filter of its own).
  class SeedChainFilter < LogStash::Filters::Base
    config_name "seed_chain"
    config :servers, :validate => :array, :required => true

    def register
      @chain = SeedChain.new(@servers)
    end

    def filter(event)
      @chain.filter(event)
    end

    def close
      @chain.close if @chain
    end
  end

  # The same chain with the call logstash-filter-memcached really makes:
  # its do_get hands the stanza's sprintf'd keys (here one) to
  # Dalli::Client#get_multi.
  class SeedChainGetMulti < SeedChain
    def filter(event)
      @blocks.each do |field, client|
        value = event.get(field)
        next if value.nil?
        key = value.is_a?(Array) ? value.join(",") : value.to_s
        raw = client.get_multi(key)[key]
        process_ioc(event, raw) if raw
      end
      event
    end
  end

  class SeedGetMultiFilter < SeedChainFilter
    config_name "seed_chain_get_multi"

    def register
      @chain = SeedChainGetMulti.new(@servers)
    end
  end

  # The floor: reads the seed's four fields of every event and nothing else.
  class FloorFilter < LogStash::Filters::Base
    config_name "floor"

    def register
      @found = 0
    end

    def multi_filter(events)
      found = 0
      events.each do |event|
        SEED_FIELDS.each { |f| found += 1 unless event.get(f).nil? }
      end
      @found += found
      events
    end
  end

  # ------------------------------------------------------------ indicators

  # What misp-load wrote, read back from memcached: the seed's namespaces'
  # values (ip, domain, sha256) and the CIDR ranges of the range index.
  class Loaded
    attr_reader :values, :ranges, :stats

    def initialize(addr)
      memcached = SpecSupport::MemcachedClient.new(addr)
      @values = Hash.new { |h, k| h[k] = [] }
      memcached.keys.each do |key|
        ns, value = key.split(":", 2)
        next unless value && %w[misp-ip misp-domain misp-sha256].include?(ns) && !value.start_with?("~")
        @values[ns.sub("misp-", "")] << value
      end
      @values.each_value(&:sort!)
      @sets = Hash[@values.map { |ns, vs| [ns, vs.to_set] }]
      @stats = memcached.get("misp-stats").to_i
      @ranges = []
      head = memcached.get("misp-ranges")
      if head
        _, generation, chunks = head.split
        chunks.to_i.times do |n|
          memcached.get("misp-ranges:#{generation}:#{n}").to_s.each_line do |line|
            cidr = line.split(" ", 2).first
            net = IPAddr.new(cidr)
            @ranges << [net.ipv4?, net.to_range.first.to_i, net.to_range.last.to_i]
          end
        end
      end
    end

    def include?(ns, value)
      @sets[ns].include?(value)
    end

    # Whether an IP lies in any loaded CIDR range (misp_enrich would report
    # a range match there, which the seed cannot do).
    def in_range?(ip)
      addr = IPAddr.new(ip)
      n = addr.to_i
      v4 = addr.ipv4?
      @ranges.any? { |r4, lo, hi| r4 == v4 && n >= lo && n <= hi }
    end
  end

  # ---------------------------------------------------------------- events

  # Values drawn from a pool with Zipf(1) popularity (a few very common
  # domains, IPs and binaries, a long tail), or, with distinct: true, a new
  # value every time.
  class Pool
    def initialize(size, rng, distinct: false, &make)
      @make = make
      @rng = rng
      @distinct = distinct
      return if distinct
      @values = Array.new(size) { make.call }
      total = 0.0
      @cumulative = Array.new(size) { |k| total += 1.0 / (k + 1) }
      @total = total
    end

    def draw
      return @make.call if @distinct
      u = @rng.rand * @total
      @values[@cumulative.bsearch_index { |c| c >= u } || (@values.size - 1)]
    end
  end

  class Generator
    # Share of each Sysmon event kind (event.code) in the stream.
    MIX = [["3", 0.30], ["22", 0.25], ["1", 0.10], ["7", 0.10], ["23", 0.10], ["5", 0.15]].freeze
    # Kinds that carry a seed field, for hit events.
    HIT_KINDS = [["3", 0.40], ["22", 0.30], ["1", 0.15], ["7", 0.15]].freeze
    PUBLIC_V4 = [13, 20, 23, 40, 52, 104, 142, 151, 157, 172, 199, 204].freeze
    WORDS = %w[cloud edge cdn static api login update mail secure data app media content portal assets
               telemetry sync files web shop news live video store track].freeze
    TLDS = %w[com net org io de co.uk fr nl info biz].freeze

    attr_reader :loaded

    def initialize(loaded, seed)
      @loaded = loaded
      @rng = Random.new(seed)
      @templates = load_templates
      @range_octets = loaded.ranges.select(&:first).map { |_, lo, _| lo >> 24 }.to_set
      # Indicator values the events can carry without misp_enrich seeing
      # more than the seed could: IPs outside every loaded range, domains
      # that look like registered domains, lower-case SHA-256.
      @hits = {
        "ip" => loaded.values["ip"].shuffle(random: @rng).lazy.reject { |ip| loaded.in_range?(ip) }.first(20_000),
        "domain" => pick_domains(loaded.values["domain"]),
        "sha256" => loaded.values["sha256"].select { |h| h =~ /\A[0-9a-f]{64}\z/ }.shuffle(random: @rng)
      }
    end

    def hit_candidates
      @hits
    end

    # n events (plain Hashes) of which round(n * hit_percent / 100) carry
    # exactly one indicator value in one of the seed's fields.
    def events(n, hit_percent, distinct: false)
      pools = make_pools(distinct)
      hit_count = (n * hit_percent / 100.0).round
      hit_at = (0...n).to_a.sample(hit_count, random: @rng).to_set
      Array.new(n) do |i|
        hit = hit_at.include?(i)
        kind = weighted(hit ? HIT_KINDS : MIX)
        build(kind, pools, hit)
      end
    end

    private

    def load_templates
      found = {}
      # Events as Winlogbeat's ingest pipeline leaves them first (full ECS), then the evtx ones.
      Dir[File.join(FIXTURES, "*.ndjson")].sort_by { |f| [f.include?("evtx") ? 1 : 0, f] }.each do |f|
        File.foreach(f) do |line|
          e = JSON.parse(line)
          code = e.dig("event", "code").to_s
          found[code] ||= e if MIX.any? { |k, _| k == code }
        end
      end
      missing = MIX.map(&:first) - found.keys
      raise "no fixture event for event.code #{missing.join(', ')} in #{FIXTURES}" unless missing.empty?
      found.each do |code, e|
        # The filters add [misp], [threat] and tags; reset! takes them off again.
        raise "fixture event #{code} already has #{(e.keys & %w[misp threat tags]).join(', ')}" unless (e.keys & %w[misp threat tags]).empty?
        deep_freeze(e)
      end
    end

    def pick_domains(all)
      two = all.select { |d| d.count(".") == 1 && d =~ /\A[a-z0-9.-]+\z/ }
      (two.size >= 2000 ? two : all).shuffle(random: @rng)
    end

    def weighted(table)
      u = @rng.rand
      table.each do |kind, w|
        return kind if u < w
        u -= w
      end
      table.last.first
    end

    def make_pools(distinct)
      {
        dest_ip: Pool.new(20_000, @rng, distinct: distinct) { fresh_ip(@rng.rand < 0.1) },
        resolved_ip: Pool.new(10_000, @rng, distinct: distinct) { fresh_ip(false) },
        domain: Pool.new(5_000, @rng, distinct: distinct) { fresh_domain },
        sha256: Pool.new(3_000, @rng, distinct: distinct) { fresh_sha256 },
        source_ip: Pool.new(500, @rng) { "10.20.#{@rng.rand(256)}.#{1 + @rng.rand(254)}" },
        sub: Pool.new(WORDS.size, @rng) { WORDS[@rng.rand(WORDS.size)] }
      }
    end

    # A public-looking IP that is neither a loaded indicator nor inside a
    # loaded range.
    def fresh_ip(v6)
      loop do
        ip = if v6
               format("2603:10%02x:%x:%x::%x", @rng.rand(256), @rng.rand(65_536), @rng.rand(65_536), 1 + @rng.rand(65_535))
             else
               "#{PUBLIC_V4[@rng.rand(PUBLIC_V4.size)]}.#{@rng.rand(256)}.#{@rng.rand(256)}.#{1 + @rng.rand(254)}"
             end
        next if @loaded.include?("ip", ip)
        next if (v6 || @range_octets.include?(ip.to_i)) && @loaded.in_range?(ip)
        return ip
      end
    end

    def fresh_domain
      loop do
        d = "#{WORDS[@rng.rand(WORDS.size)]}#{@rng.rand(100_000)}#{WORDS[@rng.rand(WORDS.size)]}.#{TLDS[@rng.rand(TLDS.size)]}"
        return d unless @loaded.include?("domain", d)
      end
    end

    def fresh_sha256
      loop do
        h = @rng.bytes(32).unpack1("H*")
        return h unless @loaded.include?("sha256", h)
      end
    end

    # A copy of the template's Hashes and Arrays that shares its (frozen)
    # strings and numbers: events stay small, as Logstash's own share
    # nothing but cost about the same to read.
    def deep_copy(obj)
      case obj
      when Hash then obj.each_with_object({}) { |(k, v), h| h[k] = deep_copy(v) }
      when Array then obj.map { |v| deep_copy(v) }
      else obj
      end
    end

    def deep_freeze(obj)
      case obj
      when Hash then obj.each_value { |v| deep_freeze(v) }
      when Array then obj.each { |v| deep_freeze(v) }
      when String then obj.freeze
      end
      obj
    end

    def build(kind, pools, hit)
      e = deep_copy(@templates[kind])
      host = "WS#{format('%04d', @rng.rand(2000))}"
      e["host"] = { "name" => host }
      e["winlog"]["computer_name"] = host if e["winlog"]
      e["winlog"]["record_id"] = @rng.rand(10_000_000).to_s if e["winlog"]
      case kind
      when "3"
        ip = hit ? @hits["ip"].sample(random: @rng) : pools[:dest_ip].draw
        src = pools[:source_ip].draw
        e["destination"] = { "ip" => ip, "port" => [443, 80, 53, 445, 8080][@rng.rand(5)] }
        e["source"] = { "ip" => src, "port" => 49_152 + @rng.rand(16_000) }
        e["related"] = { "ip" => [src, ip], "user" => e.dig("related", "user") || ["SYSTEM"] }
        e["network"]["type"] = ip.include?(":") ? "ipv6" : "ipv4" if e["network"]
      when "22"
        hit_domain = hit && @rng.rand < 0.5
        rd = hit_domain ? @hits["domain"].sample(random: @rng) : pools[:domain].draw
        ip = hit && !hit_domain ? @hits["ip"].sample(random: @rng) : pools[:resolved_ip].draw
        name = "#{pools[:sub].draw}.#{rd}"
        e["dns"] = {
          "question" => { "name" => name, "registered_domain" => rd, "subdomain" => name.split(".").first,
                          "top_level_domain" => rd.split(".", 2).last },
          # One element: the seed GETs the array joined with "," (see README of bench).
          "resolved_ip" => [ip],
          "answers" => [{ "data" => ip, "type" => ip.include?(":") ? "AAAA" : "A" }]
        }
        e["related"] = { "hosts" => [name], "ip" => [ip] }
      when "1", "7"
        h = hit ? @hits["sha256"].sample(random: @rng) : pools[:sha256].draw
        e["hash"] = { "sha256" => h }
        if kind == "1"
          (e["process"] ||= {})["hash"] = { "sha256" => h }
        else
          (e["file"] ||= {})["hash"] = (e.dig("file", "hash") || {}).merge("sha256" => h)
        end
        e["related"] = { "hash" => [h] }
      end
      e
    end
  end

  # ---------------------------------------------------------------- driver

  module_function

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def gc
    3.times { java.lang.System.gc }
  end

  def batches(hashes)
    hashes.map { |h| LogStash::Event.new(h) }.each_slice(BATCH).to_a
  end

  # Takes off what the filters added ([misp], [threat], tags; the generated
  # events have none of their own), so that the same events serve the next
  # run as if new: building 50,000 events takes longer than a run.
  def reset!(batches)
    batches.each do |batch|
      batch.each do |e|
        e.remove("[misp]") if e.include?("[misp]")
        e.remove("[threat]") if e.include?("[threat]")
        e.remove("tags") if e.include?("tags")
      end
    end
    batches
  end

  THREAD_CPU = java.lang.management.ManagementFactory.getThreadMXBean

  # Runs every batch through filter.multi_filter with `workers` threads
  # sharing the one filter (as Logstash's pipeline workers do). Returns
  # seconds of wall time; the worker threads' own CPU seconds are added to
  # cpu[0] when given (the machine is shared: CPU time is what the workers
  # spent themselves, whatever else ran), and each batch's seconds are
  # appended to `latencies` when given.
  def run(filter, batches, workers, cpu = nil, latencies = nil)
    gc
    started = now
    next_batch = java.util.concurrent.atomic.AtomicInteger.new(0)
    spent = java.util.concurrent.atomic.AtomicLong.new(0)
    lock = Mutex.new
    work = lambda do
      t = THREAD_CPU.getCurrentThreadCpuTime
      mine = latencies ? [] : nil
      while (i = next_batch.get_and_increment) < batches.size
        if mine
          b = now
          filter.multi_filter(batches[i])
          mine << now - b
        else
          filter.multi_filter(batches[i])
        end
      end
      spent.add_and_get(THREAD_CPU.getCurrentThreadCpuTime - t)
      lock.synchronize { latencies.concat(mine) } if mine
    end
    if workers == 1
      work.call
    else
      Array.new(workers) { Thread.new(&work) }.each(&:join)
    end
    elapsed = now - started
    cpu[0] += spent.get / 1e9 if cpu
    elapsed
  end

  # The p-th percentile (0..100) of a list of seconds, in µs.
  def percentile_us(xs, p)
    return 0.0 if xs.empty?
    s = xs.sort
    s[[(s.size * p / 100.0).ceil - 1, 0].max] * 1e6
  end

  def registered(filter)
    filter.register
    filter
  end

  def misp_enrich(addr, misp_url, extra = {})
    registered(LogStash::Filters::MispEnrich.new({
      "memcached" => [addr], "fields" => SEED_FIELDS, "domain_match" => "exact", "misp_url" => misp_url
    }.merge(extra)))
  end

  def seed(addr)
    registered(SeedChainFilter.new("servers" => [addr]))
  end

  def seed_get_multi(addr)
    registered(SeedGetMultiFilter.new("servers" => [addr]))
  end

  def floor
    registered(FloorFilter.new({}))
  end

  def misp_fields(event)
    [event.get("[misp][event_id]"), event.get("[misp][type]")]
  end

  FAILURE_TAG = "_misp_enrich_failure".freeze

  def failed?(event)
    Array(event.get("tags")).include?(FAILURE_TAG)
  end

  # What went wrong inside a misp_enrich instance: the engine's failure
  # counters (its warnings went to Logstash's log on stderr).
  def diagnose(filter)
    stats = filter.instance_variable_get(:@engine).stats
    servers = stats["servers"].map { |sv| sv.select { |k, _| %w[errors timeouts out_of_time breaker_opened connects last_error].include?(k) } }
    "engine: failed_slots #{stats['failed_slots']}, failed_lookups #{stats['failed_lookups']}, errors #{stats['errors']}, " \
      "batch_micros_max #{stats['batch_micros_max']}, servers #{servers.inspect}"
  end

  # The equality check: every event gets the same [misp][event_id] and
  # [misp][type] from the seed chain and from misp_enrich (cold and warm).
  # An event misp_enrich could not look up (tagged _misp_enrich_failure and
  # passed on, as designed when memcached is slow or down) is counted
  # apart; any other difference fails the benchmark.
  def compare!(label, batches, addr, misp_url)
    capture = ->(b) { b.flatten.map { |e| [misp_fields(e), failed?(e)] } }
    f = seed(addr)
    reset!(batches).each { |b| f.multi_filter(b) }
    f.close
    seed_out = capture.call(batches)
    fields = batches.flatten.map { |e| SEED_FIELDS.map { |fl| e.get(fl) } }
    f = seed_get_multi(addr)
    reset!(batches).each { |b| f.multi_filter(b) }
    f.close
    raise "#{label}: the seed chain with get_multi differs from the one with get" unless capture.call(batches) == seed_out
    ours = misp_enrich(addr, misp_url)
    reset!(batches).each { |b| ours.multi_filter(b) }
    cold_out = capture.call(batches)
    reset!(batches).each { |b| ours.multi_filter(b) }
    warm_out = capture.call(batches)
    reset!(batches)
    mismatches = 0
    failed = 0
    enriched = 0
    seed_out.zip(cold_out, warm_out).each_with_index do |((want, _), c, w), i|
      enriched += 1 unless want.first.nil?
      failed += 1 if c[1] || w[1]
      next if [c, w].all? { |got, tagged| got == want || (tagged && got == [nil, nil]) }
      mismatches += 1
      if mismatches <= 5
        warn "#{label}: event #{i} differs: seed #{want.inspect}, cold #{c.inspect}, warm #{w.inspect}; " \
             "fields #{fields[i].inspect}"
      end
    end
    warn "#{label}: #{failed} events tagged #{FAILURE_TAG}; #{diagnose(ours)}" if failed > 0 || mismatches > 0
    ours.close
    [enriched, mismatches, failed]
  end

  def median(xs)
    s = xs.sort
    s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0
  end

  def fmt(n)
    n.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
  end

  def loadavg
    File.read("/proc/loadavg").split.first(3).join(" ")
  rescue StandardError
    "?"
  end

  # ------------------------------------------------------------------ speed

  def speed(addr, misp_url, data_file)
    n = Integer(ENV.fetch("BENCH_EVENTS", "50000"))
    reps = Integer(ENV.fetch("BENCH_REPS", "5"))
    hit_rates = ENV.fetch("BENCH_HITS", "1 10").split.map(&:to_f)
    worker_counts = ENV.fetch("BENCH_WORKERS", "1 2").split.map(&:to_i)
    seed_value = Integer(ENV.fetch("BENCH_SEED", "42"))

    t = now
    loaded = Loaded.new(addr)
    gen = Generator.new(loaded, seed_value)
    warn format("indicators in memcached: misp-stats %d; ip %d, domain %d, sha256 %d, ranges %d; hit candidates: " \
                "ip %d, domain %d, sha256 %d (%.1f s)",
                loaded.stats, loaded.values["ip"].size, loaded.values["domain"].size, loaded.values["sha256"].size,
                loaded.ranges.size, *gen.hit_candidates.values_at("ip", "domain", "sha256").map(&:size), now - t)

    where = ENV.fetch("BENCH_WHERE", "")
    sets = hit_rates.map { |h| ["#{h.to_i == h ? h.to_i : h}% hits#{where}", h, gen.events(n, h)] }
    sets << ["1% hits, all values distinct#{where}", 1.0, gen.events(n, 1.0, distinct: true)] unless ENV["BENCH_NO_DISTINCT"]
    sets.each do |label, _, hashes|
      values = hashes.flat_map { |h| SEED_FIELDS.map { |f| f.scan(/\[([^\]]+)\]/).flatten.reduce(h) { |v, k| v && v[k] } } }.compact.flatten
      warn format("%s: %d events, %d seed-field values, %d distinct", label, hashes.size, values.size, values.uniq.size)
    end

    # The events of each set, built once and reset between runs.
    events = Hash[sets.map { |label, _, hashes| [label, batches(hashes)] }]

    # Equality check first (it also warms up the JIT on every path).
    checks = sets.map do |label, _, _|
      enriched, mismatches, failed = compare!(label, events[label], addr, misp_url)
      warn "#{label}: #{enriched} events enriched by the seed chain; misp_enrich (cold and warm) " \
           "#{mismatches.zero? ? 'identical on every event' : "DIFFERS on #{mismatches} events"}" \
           "#{failed > 0 ? ", #{failed} not looked up (tagged #{FAILURE_TAG})" : ''}"
      [label, enriched, mismatches, failed]
    end
    abort "misp_enrich and the seed chain disagree" if checks.any? { |_, _, m, _| m > 0 }

    # JIT warm-up. misp_enrich's Ruby path keeps getting faster for several
    # hundred thousand events (JRuby compiles it, then the JVM recompiles),
    # so it runs, cold and warm, with the floor beside it, until
    # BENCH_WARMUP_EVENTS events in all have gone through it (default
    # 1,000,000), whatever the size of the sets; each seed chain gets 40
    # batches per set and worker count (it is bound by round trips).
    budget = Integer(ENV.fetch("BENCH_WARMUP_EVENTS", "1000000"))
    sets.each do |label, _, _|
      worker_counts.each do |w|
        f = seed(addr); run(f, reset!(events[label].first(40)), w); f.close
        f = seed_get_multi(addr); run(f, reset!(events[label].first(40)), w); f.close
      end
    end
    passed = 0
    while passed < budget
      sets.each do |label, _, _|
        b = events[label]
        worker_counts.each do |w|
          f = misp_enrich(addr, misp_url); run(f, reset!(b), w); run(f, reset!(b), w); f.close
          run(floor, reset!(b), w)
          passed += 2 * b.sum(&:size)
        end
      end
    end

    results = {}
    stats = {}
    failures = Hash.new(0)
    cpu_ratio = {}
    latencies = {}
    load_seen = [loadavg]
    count_failed = ->(b) { b.sum { |batch| batch.count { |e| failed?(e) } } }
    reps.times do |rep|
      sets.each do |label, _, hashes|
        b = events[label]
        worker_counts.each do |w|
          r = (results[[label, w]] ||= Hash.new { |h, k| h[k] = [] })
          cpu = (cpu_ratio[[label, w]] ||= [])
          f = seed(addr)
          r[:seed] << hashes.size / run(f, reset!(b), w)
          f.close
          f = seed_get_multi(addr)
          r[:seed_multi] << hashes.size / run(f, reset!(b), w)
          f.close
          lat = (latencies[[label, w]] ||= Hash.new { |h, k| h[k] = [] })
          f = misp_enrich(addr, misp_url)
          r[:cold] << hashes.size / run(f, reset!(b), w, nil, lat[:cold])
          failures[[label, w, :cold]] += count_failed.call(b)
          cold_stats = f.instance_variable_get(:@engine).stats
          warm_cpu = [0.0]
          r[:warm] << hashes.size / run(f, reset!(b), w, warm_cpu, lat[:warm])
          failures[[label, w, :warm]] += count_failed.call(b)
          stats[[label, w]] ||= [cold_stats, f.instance_variable_get(:@engine).stats]
          warn "#{label}, #{w} worker(s): #{diagnose(f)}" if failures[[label, w, :cold]] + failures[[label, w, :warm]] > 0
          f.close
          floor_cpu = [0.0]
          r[:floor] << hashes.size / run(floor, reset!(b), w, floor_cpu, lat[:floor])
          cpu << warm_cpu[0] / floor_cpu[0]
          warn format("rep %d %-28s %d worker(s): seed %s, seed (get_multi) %s, cold %s, warm %s, floor %s events/s (load %s)",
                      rep + 1, label, w, *%i[seed seed_multi cold warm floor].map { |k| fmt(r[k].last) }, loadavg)
        end
      end
      load_seen << loadavg
    end

    puts "| events | workers | seed chain (Dalli `get`) | seed chain (Dalli `get_multi`, as logstash-filter-memcached) | misp_enrich, cold cache | misp_enrich, warm cache | floor |"
    puts "|---|---:|---:|---:|---:|---:|---:|"
    rows = []
    results.each do |(label, w), r|
      m = Hash[r.map { |k, xs| [k, median(xs)] }]
      rows << [label, w, m]
      puts format("| %s | %d | %s | %s | %s | %s | %s |", label, w,
                  *%i[seed seed_multi cold warm floor].map { |k| fmt(m[k]) })
    end
    puts
    puts "| events | workers | cold / seed (2/1) | cold / seed with `get_multi` | warm / seed | warm slower than floor (3/2), wall clock | same, worker CPU time |"
    puts "|---|---:|---:|---:|---:|---:|---:|"
    rows.each do |label, w, m|
      puts format("| %s | %d | **%.1f×** | %.1f× | %.1f× | **%.2f×** | %.2f× |", label, w,
                  m[:cold] / m[:seed], m[:cold] / m[:seed_multi], m[:warm] / m[:seed], m[:floor] / m[:warm],
                  median(cpu_ratio[[label, w]]))
    end
    puts
    puts "events/s (wall clock), median of #{reps} runs of #{fmt(n)} events each (batches of #{BATCH}); " \
         "\"CPU time\": the worker threads' own CPU seconds, warm over floor, median per run. " \
         "Load average (1/5/15 min) during the runs: #{load_seen.uniq.join('; ')}."
    puts
    puts "| events | workers | cold cache: batch p50 / p99 | warm cache: batch p50 / p99 | floor: batch p50 / p99 |"
    puts "|---|---:|---:|---:|---:|"
    latencies.each do |(label, w), lat|
      puts format("| %s | %d | %s | %s | %s |", label, w, *%i[cold warm floor].map { |k|
        format("%.0f / %.0f µs", percentile_us(lat[k], 50), percentile_us(lat[k], 99))
      })
    end
    puts
    puts "Batch latency: each multi_filter call of #{BATCH} events, wall clock, over all #{reps} runs."
    failed_total = failures.values.sum
    puts
    puts(failed_total.zero? ? "No event of the timed misp_enrich runs was tagged #{FAILURE_TAG} (every lookup answered in time)." :
         "Events of the timed misp_enrich runs tagged #{FAILURE_TAG} (not looked up in time, passed on): " +
         failures.select { |_, v| v > 0 }.map { |(l, w, k), v| "#{l}, #{w} worker(s), #{k}: #{v}" }.join("; ") + ".")
    puts
    puts "| events | cold run: lookups | answered by the cache | memcached round trips | matches |"
    puts "|---|---:|---:|---:|---:|"
    stats.each do |(label, w), (cold, _warm)|
      next unless w == worker_counts.first
      puts format("| %s | %s | %.0f%% | %s | %s |", label, fmt(cold["lookups"]),
                  100.0 * cold["cache_hits"] / [cold["lookups"], 1].max, fmt(cold["memcached_round_trips"]),
                  fmt(cold["matches"]))
    end
    puts
    check_text = checks.map do |label, enriched, mm, fl|
      "#{label}: #{fmt(enriched)} events enriched by the seed chain, #{mm} differences" +
        (fl > 0 ? ", #{fl} events not looked up in time (tagged #{FAILURE_TAG}, passed on)" : "")
    end
    puts "Equality check (1 worker, every event, [misp][event_id] and [misp][type], cold and warm): " \
         "#{check_text.join('; ')}."
    puts
    puts dalli_note(addr, loaded)
    File.open(data_file, "w") do |io|
      io.puts "# label workers seed cold warm floor seed_get_multi (events/s, medians)"
      rows.each do |label, w, m|
        io.puts [label, w, *%i[seed cold warm floor seed_multi].map { |k| m[k].round }].join("\t")
      end
    end
  end

  # The seed chain above GETs each value with Dalli#get; logstash-filter-
  # memcached itself calls Dalli#get_multi with the event's keys (one key
  # per stanza in the seed's pipeline). Both timed here on the same keys,
  # half of them indicators.
  def dalli_note(addr, loaded)
    client = Dalli::Client.new([addr], namespace: "misp-ip", socket_timeout: 1)
    keys = loaded.values["ip"].first(2_000) + Array.new(2_000) { |i| "192.0.2.#{i % 250}x#{i}" }
    per = {}
    3.times do
      t = now
      keys.each { |k| client.get(k) }
      per[:get] = (now - t) / keys.size
      t = now
      keys.each { |k| client.get_multi(k) }
      per[:get_multi] = (now - t) / keys.size
    end
    client.close
    format("Dalli %s, one key per call#{ENV.fetch("BENCH_WHERE", ", memcached on loopback")}: `get` %.1f µs, `get_multi` %.1f µs (%.1f×). " \
           "logstash-filter-memcached calls `get_multi` with each stanza's keys (one per stanza in the seed's " \
           "pipeline); neither seed column includes Logstash's own cost of the seed's conditionals and its ruby " \
           "and mutate filters per field.",
           Dalli::VERSION, per[:get] * 1e6, per[:get_multi] * 1e6, per[:get_multi] / per[:get])
  end

  # ----------------------------------------------------------------- memory

  def rss_kb
    File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  def heap_used
    rt = java.lang.Runtime.getRuntime
    samples = Array.new(5) do
      3.times { java.lang.System.gc }
      sleep 0.05
      rt.totalMemory - rt.freeMemory
    end
    median(samples)
  end

  # The plugin's extra memory: heap used (after System.gc, median of 5
  # samples) and process RSS, before register vs after 100,000 distinct
  # values went through it (the cache full at cache_size 100,000). Run with
  # a fixed, pre-touched heap (bench/pipeline does), so that RSS moves only
  # with native and JVM non-heap memory.
  def memory(addr, misp_url, cache_size)
    loaded = Loaded.new(addr)
    gen = Generator.new(loaded, 7)
    # Warm the event-generation path itself before the first sample.
    3.times { fill(nil, gen, 2_000) }
    before_heap = heap_used
    before_rss = rss_kb
    filter = misp_enrich(addr, misp_url, "cache_size" => cache_size)
    after_register_heap = heap_used
    after_register_rss = rss_kb
    fill(filter, gen, 100_000)
    stats = filter.instance_variable_get(:@engine).stats
    after_heap = heap_used
    after_rss = rss_kb
    row = lambda do |name, b, r, a, unit|
      format("| %s | %.1f MB | %.1f MB | %.1f MB | **%+.1f MB** |", name, b / unit, r / unit, a / unit, (a - b) / unit)
    end
    puts "| cache_size #{fmt(cache_size)} | before register | after register | after #{fmt(stats['items'])} distinct values | extra |"
    puts "|---|---:|---:|---:|---:|"
    puts row.call("JVM heap used (after System.gc, median of 5)", before_heap, after_register_heap, after_heap, 1e6)
    puts row.call("process RSS (VmRSS)", before_rss, after_register_rss, after_rss, 1e3)
    puts format("| both | | | | **%+.1f MB** |", ((after_heap - before_heap) / 1e6) + ((after_rss - before_rss) / 1e3))
    puts
    puts format("engine: %s lookups, %s cache misses, %s cache hits, %s entries in the cache.",
                fmt(stats["lookups"]), fmt(stats["cache_misses"]), fmt(stats["cache_hits"]),
                fmt(stats["cache_entries"] || 0))
    filter.close
  end

  # Runs `distinct` new values (four per event, every seed field set) through
  # filter.multi_filter, batch by batch; nothing of the events stays referenced.
  def fill(filter, gen, distinct)
    fed = 0
    k = 0
    while fed < distinct
      hashes = gen.events(BATCH * 20, 1.0, distinct: true)
      hashes.each do |h|
        k += 1
        h["destination"] ||= { "ip" => "172.#{16 + (k >> 16)}.#{(k >> 8) & 255}.#{k & 255}" }
        h["hash"] ||= { "sha256" => format("%064x", 0xbe_ef00_0000 + k) }
        h["dns"] ||= { "question" => { "registered_domain" => "mem#{k}.bench-fill.example" },
                       "resolved_ip" => ["198.#{18 + (k >> 16)}.#{(k >> 8) & 255}.#{k & 255}"] }
        fed += SEED_FIELDS.size
      end
      batches(hashes).each { |b| filter.multi_filter(b) } if filter
    end
    nil
  end
end

if __FILE__ == $PROGRAM_NAME
mode, addr, misp_url, data_file = ARGV
case mode
when "speed" then PipelineBench.speed(addr, misp_url, data_file || "/dev/null")
when "memory" then PipelineBench.memory(addr, misp_url, Integer(data_file || "100000"))
else abort "usage: pipeline.rb speed|memory MEMCACHED_ADDR MISP_URL [DATA_FILE]"
end
end
