# encoding: utf-8
# Side-by-side benchmark in a real Logstash 8.9.2 (not a test: it measures),
# run by bench/logstash. The same pipeline three times, over the same events
# and the same memcached (misp-load filled it from misp-sim's generated
# indicators):
#
#   stdin (json_lines) -> FILTER -> stdout (a line per event, to a file)
#
#   none        no filter: what Logstash itself costs (input, codecs, output)
#   seed        the seed's filter blocks, examples/seed/02-filter.conf (one
#               memcached + ruby + mutate block per field)
#   misp_enrich bench/logstash-misp_enrich.conf (the seed's four fields)
#
# The events are bench/pipeline.rb's (its Generator: Sysmon-shaped events
# from the fixtures, Zipf-popular values, BENCH_LS_HITS percent carrying an
# indicator in one of the seed's fields). Logstash reads them from a file on
# stdin, with its default settings (2 workers on this machine, batches of
# 125, jvm.options as shipped: full JIT, 1 GB heap). The rate is read from
# Logstash's node stats (HTTP API): events out between 20% and 95% of the
# run, so JVM start-up and the end are left out; the wall clock of the whole
# run (start-up included) is printed beside it. Each pipeline runs
# BENCH_LS_REPS times, interleaved (none, seed, misp_enrich, none, ...), and
# the median is reported. Prints a Markdown table.
#
#   jruby bench/logstash.rb BIN_DIR     (BIN_DIR holds misp-sim and misp-load)
#
# Environment: BENCH_LS_EVENTS (default 200000), BENCH_LS_REPS (default 3),
# BENCH_LS_HITS (percent, default 1), BENCH_ATTRIBUTES (misp-sim
# --generate, default 133000: about 100,000 IDS attributes, as
# bench/pipeline), BENCH_SEED (default 42). Needs
# LOGSTASH_HOME and GEM_PATH as bench/pipeline does (bench/logstash sets them).
require_relative "../tests/logstash/lib/real_logstash"
require_relative "pipeline"

module LogstashBench
  ROOT = File.expand_path("..", __dir__)
  VARIANTS = {
    "none" => [],
    "seed" => [File.join(ROOT, "examples/seed/02-filter.conf")],
    "misp_enrich" => [File.join(ROOT, "bench/logstash-misp_enrich.conf")]
  }.freeze
  LABELS = {
    "none" => "no filter (stdin → stdout only)",
    "seed" => "seed's pipeline (memcached + ruby + mutate per field)",
    "misp_enrich" => "misp_enrich stanza"
  }.freeze
  # One short line per event: cheap to write, and says whether it was enriched.
  OUTPUT = %(output { stdout { codec => line { format => "%{[misp][event_id]}" } } }\n).freeze
  UNENRICHED = "%{[misp][event_id]}".freeze

  module_function

  def median(xs)
    s = xs.sort
    s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0
  end

  def fmt(n)
    n.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse
  end

  # Runs one pipeline over the events file; returns
  # { rate:, wall:, out:, enriched: } (rate in events/s from node stats).
  def measure(home, filters, events_file, n, memcached, dir)
    out_file = File.join(dir, "out-#{Time.now.to_f}.txt")
    run = home.start(filters, env: { "MEMCACHED" => memcached, "SEED_DIR" => File.join(ROOT, "examples/seed") },
                              api: true, input_file: events_file, output: OUTPUT, output_file: out_file)
    samples = []
    until run.exited?
      stats = run.node_stats("/pipelines/main")
      out = stats && stats.dig("pipelines", "main", "events", "out")
      samples << [Process.clock_gettime(Process::CLOCK_MONOTONIC), out] if out
      sleep 0.25
    end
    run.finish(30)
    # bin/logstash's own notices ("Using system java: ...") go to stdout too.
    lines = File.foreach(out_file).reject { |l| RealLogstash::LAUNCHER_NOTICES.any? { |re| l =~ re } }
    enriched = lines.count { |l| l.chomp != UNENRICHED }
    File.delete(out_file)
    from = samples.find { |_, o| o >= 0.2 * n }
    to = samples.reverse.find { |_, o| o <= 0.95 * n }
    rate = from && to && to[0] > from[0] ? (to[1] - from[1]) / (to[0] - from[0]) : nil
    { rate: rate, wall: run.elapsed, out: lines.size, enriched: enriched }
  end

  def main(bin_dir)
    n = Integer(ENV.fetch("BENCH_LS_EVENTS", "200000"))
    reps = Integer(ENV.fetch("BENCH_LS_REPS", "3"))
    hits = Float(ENV.fetch("BENCH_LS_HITS", "1"))
    work = Dir.mktmpdir("bench-ls-")
    at_exit { FileUtils.rm_rf(work) }

    services = RealLogstash::Services.new(work, bin_dir)
    memcached = services.memcached(memory_mb: 1024)
    attributes = Integer(ENV.fetch("BENCH_ATTRIBUTES", "133000"))
    services.misp_load(memcached, services.misp_sim(generate: attributes))
    warn "misp-load: #{attributes} generated attributes from misp-sim -> memcached #{memcached}"

    gen = PipelineBench::Generator.new(PipelineBench::Loaded.new(memcached), Integer(ENV.fetch("BENCH_SEED", "42")))
    events_file = File.join(work, "events.ndjson")
    File.open(events_file, "w") { |f| gen.events(n, hits).each { |e| f.puts(JSON.generate(e)) } }
    expected_hits = (n * hits / 100.0).round
    warn "#{n} events (#{expected_hits} carry an indicator) in #{events_file}"

    warn "building the gem and installing it into a copy of the kit's Logstash"
    home = RealLogstash::Home.install(RealLogstash.build_gem(work), work)

    results = Hash.new { |h, k| h[k] = [] }
    reps.times do |rep|
      VARIANTS.each do |name, filters|
        r = measure(home, filters, events_file, n, memcached, work)
        warn format("run %d/%d %-12s %8s events/s (node stats), %5.1f s wall clock, %d out, %d enriched; load %s",
                    rep + 1, reps, name, r[:rate] ? fmt(r[:rate]) : "?", r[:wall], r[:out], r[:enriched], PipelineBench.loadavg)
        results[name] << r
      end
    end

    rate_of = ->(name) { rs = results[name].map { |r| r[:rate] }.compact; rs.empty? ? nil : median(rs) }
    seed_rate = rate_of.call("seed")
    puts "| real Logstash 8.9.2, #{n} events, #{hits.to_i == hits ? hits.to_i : hits}% with an indicator | events/s (node stats, median of #{reps}) | vs seed | wall clock per run, start-up included (median) | events out | enriched |"
    puts "|---|---:|---:|---:|---:|---:|"
    VARIANTS.each_key do |name|
      rs = results[name]
      rate = rate_of.call(name)
      outs = rs.map { |r| r[:out] }.uniq
      enriched = rs.map { |r| r[:enriched] }.uniq
      puts format("| %s | %s | %s | %.1f s | %s | %s |", LABELS[name], rate ? fmt(rate) : "?",
                  name == "none" || !rate || !seed_rate ? "" : format("%.1f×", rate / seed_rate), median(rs.map { |r| r[:wall] }),
                  outs.map { |o| fmt(o) }.join(" / "), enriched.map { |o| fmt(o) }.join(" / "))
    end
    ok = results.values.flatten.all? { |r| r[:out] == n && r[:rate] } &&
         results["seed"].map { |r| r[:enriched] } == results["misp_enrich"].map { |r| r[:enriched] }
    warn "every run put out all #{n} events, and seed and misp_enrich enriched as many: #{ok ? 'yes' : 'NO'}"
    exit(ok ? 0 : 1)
  end
end

LogstashBench.main(*ARGV) if __FILE__ == $PROGRAM_NAME
