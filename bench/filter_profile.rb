# encoding: utf-8
# Where misp_enrich's time goes, per phase of multi_filter, on the events of
# bench/pipeline.rb (1 worker, warm and cold cache), on the real
# logstash-core Event (pipeline.rb loads the kit's logstash-core): reading and
# encoding the fields (Java BatchReader), the JNI call, decoding the result,
# writing matches. A development aid behind the numbers in docs/BENCHMARKS.md, run by
# bench/pipeline, which starts memcached and misp-sim and loads them first:
#
#   BENCH_PROFILE="1 10" bench/pipeline
require_relative "pipeline"

module FilterProfile
  module_function

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Calls the plugin's own steps one by one and times each: the Java
  # BatchReader (read and encode), the JNI call, decoding the result in
  # Ruby, writing the matches.
  def phases(filter, batches)
    t = Hash.new(0.0)
    reader = filter.instance_variable_get(:@reader)
    engine = filter.instance_variable_get(:@engine)
    batches.each do |events|
      a = now
      batch = reader.read(events)
      b = now
      bytes = engine.send(:with_handle) { |h| batch.lookup(h.address) }
      c = now
      result = engine.send(:decode, String.from_java_bytes(bytes))
      d = now
      filter.send(:apply, events, batch, result)
      e = now
      t[:read] += b - a
      t[:jni] += c - b
      t[:decode] += d - c
      t[:apply] += e - d
    end
    t
  end

  def run(addr, misp_url, hit)
    loaded = PipelineBench::Loaded.new(addr)
    gen = PipelineBench::Generator.new(loaded, 42)
    hashes = gen.events(Integer(ENV.fetch("BENCH_EVENTS", "50000")), hit)
    n = hashes.size
    floor = PipelineBench.floor
    batches = PipelineBench.batches(hashes)
    rounds = Integer(ENV.fetch("BENCH_PROFILE_ROUNDS", "3"))
    rounds.times do
      f = PipelineBench.misp_enrich(addr, misp_url)
      phases(f, PipelineBench.reset!(batches))
      phases(f, PipelineBench.reset!(batches))
      f.close
      PipelineBench.run(floor, PipelineBench.reset!(batches), 1)
    end
    f = PipelineBench.misp_enrich(addr, misp_url)
    cold = phases(f, PipelineBench.reset!(batches))
    warm = phases(f, PipelineBench.reset!(batches))
    whole = PipelineBench.run(f, PipelineBench.reset!(batches), 1)
    f.close
    floor_s = PipelineBench.run(floor, PipelineBench.reset!(batches), 1)
    puts "misp_enrich phases, #{n} events, #{hit}% hits, 1 worker (µs per event)"
    puts "| phase | cold | warm |"
    puts "|---|---:|---:|"
    %i[read jni decode apply].each do |k|
      puts format("| %s | %.2f | %.2f |", k, cold[k] / n * 1e6, warm[k] / n * 1e6)
    end
    puts format("| total | %.2f | %.2f |", cold.values.sum / n * 1e6, warm.values.sum / n * 1e6)
    puts format("| warm: multi_filter as a pipeline calls it | | %.2f |", whole / n * 1e6)
    puts format("| floor (read the 4 fields in Ruby) | %.2f | |", floor_s / n * 1e6)
  end
end

FilterProfile.run(ARGV[0], ARGV[1], (ARGV[2] || "1").to_f) if __FILE__ == $PROGRAM_NAME && ARGV[0] != "loop"

# `filter_profile.rb loop ADDR URL HIT SECONDS [cold]`: misp_enrich over the
# events again and again (warm cache unless `cold`), for a sampling profiler
# (JFR: jruby -J-XX:StartFlightRecording=filename=x.jfr ...).
if __FILE__ == $PROGRAM_NAME && ARGV[0] == "loop"
  _, addr, url, hit, seconds, cold = ARGV
  loaded = PipelineBench::Loaded.new(addr)
  hashes = PipelineBench::Generator.new(loaded, 42).events(20_000, hit.to_f)
  sets = Array.new(4) { PipelineBench.batches(hashes) }
  f = PipelineBench.misp_enrich(addr, url)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds.to_f
  runs = 0
  while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    if cold
      f.close
      f = PipelineBench.misp_enrich(addr, url)
    end
    # The same events every pass, with what the last pass added removed
    # (keeps event creation out of the profile).
    sets[runs % 4].each do |b|
      f.multi_filter(b)
      b.each { |e| e.remove("[misp]") && e.remove("[threat]") }
    end
    runs += 1
  end
  puts "#{runs} passes"
end
