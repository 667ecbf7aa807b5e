# encoding: utf-8
# A/B measurement of a proposed change to misp_enrich's Ruby side
# (bench/proto/fast_ruby.rb) against the plugin as it is, and the floor,
# in one JVM, interleaved pass by pass on the same events, 1 worker. Checks
# that both give every event the same fields. Reports wall time and the
# worker thread's CPU time (the machine is shared; CPU time is what a
# thread spent itself, whoever else ran).
#
#   jruby -Xcompile.invokedynamic=true bench/proto/ab.rb MEMCACHED_ADDR MISP_URL [HIT_PERCENT] [PASSES]
#
# against a memcached that misp-load filled (as bench/pipeline sets up).
require_relative "../pipeline"
require_relative "fast_ruby"
require "java"

module ProtoAB
  module_function

  VARIANTS = (ENV["AB_VARIANTS"] || "floor current proto proto_decode proto_writer cold_current cold_proto").split.map(&:to_sym)
  THREADS = java.lang.management.ManagementFactory.getThreadMXBean

  def measure(filter, batches)
    PipelineBench.gc
    cpu = THREADS.getCurrentThreadCpuTime
    wall = PipelineBench.now
    batches.each { |b| filter.multi_filter(b) }
    [PipelineBench.now - wall, (THREADS.getCurrentThreadCpuTime - cpu) / 1e9]
  end

  # Long TTLs: the warm instances serve passes over several minutes, and
  # expired entries would send their lookups back to memcached.
  TTLS = { "cache_ttl" => 3600, "negative_cache_ttl" => 3600 }.freeze

  def current(addr, url)
    PipelineBench.misp_enrich(addr, url, TTLS)
  end

  def proto(addr, url, features = "decode writer")
    PipelineBench.registered(LogStash::Filters::MispEnrichProto.new({
      "memcached" => [addr], "fields" => PipelineBench::SEED_FIELDS, "domain_match" => "exact", "misp_url" => url,
      "proto_features" => features
    }.merge(TTLS)))
  end

  def run(addr, url, hit, passes)
    loaded = PipelineBench::Loaded.new(addr)
    hashes = PipelineBench::Generator.new(loaded, 42).events(Integer(ENV.fetch("BENCH_EVENTS", "30000")), hit)
    n = hashes.size
    times = Hash.new { |h, k| h[k] = [] }
    warm = { current: current(addr, url), proto: proto(addr, url),
             proto_decode: proto(addr, url, "decode"), proto_writer: proto(addr, url, "writer"),
             # Diagnostic (different output, not compared): without threat.enrichments.
             current_no_ecs: PipelineBench.misp_enrich(addr, url, TTLS.merge("ecs_compatibility" => "disabled")) }
    floor = PipelineBench.floor
    # JIT warm-up of the match-writing path too: a few passes at 10% hits.
    warm_up = PipelineBench::Generator.new(loaded, 43).events(20_000, 10.0)
    3.times do
      warm.each_value { |f| PipelineBench.batches(warm_up).each { |b| f.multi_filter(b) } }
      [current(addr, url), proto(addr, url)].each do |f|
        PipelineBench.batches(warm_up).each { |b| f.multi_filter(b) }
        f.close
      end
    end
    differences = 0
    (passes + 2).times do |pass|
      out = {}
      order = VARIANTS
      order = order.rotate(pass % order.size)
      order.each do |variant|
        batches = PipelineBench.batches(hashes)
        filter = case variant
                 when :floor then floor
                 when :current, :proto, :proto_decode, :proto_writer, :current_no_ecs then warm[variant]
                 when :cold_current then current(addr, url)
                 when :cold_proto then proto(addr, url)
                 end
        t = measure(filter, batches)
        filter.close if variant.to_s.start_with?("cold")
        times[variant] << t if pass >= 2 # two passes of JIT warm-up
        out[variant] = batches.flatten unless %i[floor current_no_ecs].include?(variant)
      end
      out[:current].each_with_index do |e, i|
        a = e.to_hash
        (out.keys - [:current]).each do |v|
          next if out[v][i].to_hash == a
          differences += 1
          warn "event #{i}: #{v} differs from current: #{out[v][i].to_hash['misp'].inspect} vs #{a['misp'].inspect}" if differences < 4
        end
      end
    end
    med = ->(xs) { PipelineBench.median(xs) }
    puts "#{n} events, #{hit}% hits, 1 worker, median of #{passes} interleaved passes; #{differences} events differ"
    puts "| variant | µs/event (wall) | µs/event (thread CPU) | events/s (wall) | CPU / floor CPU |"
    puts "|---|---:|---:|---:|---:|"
    floor_cpu = med.call(times[:floor].map(&:last))
    VARIANTS.each do |v|
      wall = med.call(times[v].map(&:first))
      cpu = med.call(times[v].map(&:last))
      puts format("| %s | %.2f | %.2f | %s | %.2f× |", v, wall / n * 1e6, cpu / n * 1e6, PipelineBench.fmt(n / wall), cpu / floor_cpu)
    end
    warm.each_value(&:close)
  end
end

ProtoAB.run(ARGV[0], ARGV[1], (ARGV[2] || "1").to_f, Integer(ARGV[3] || "7")) if __FILE__ == $PROGRAM_NAME
