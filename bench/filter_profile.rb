# encoding: utf-8
# Where misp_enrich's time goes, per phase of multi_filter, on the events of
# bench/pipeline.rb (1 worker, warm and cold cache), on the real
# logstash-core Event (pipeline.rb loads the kit's logstash-core): reading the
# fields (collect), encoding the batch, the FFI call, decoding, writing
# matches. A development aid behind the numbers in docs/BENCHMARKS.md, run by
# bench/pipeline, which starts memcached and misp-sim and loads them first:
#
#   BENCH_PROFILE="1 10" bench/pipeline
require_relative "pipeline"

module FilterProfile
  module_function

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Calls the plugin's own private steps one by one and times each.
  def phases(filter, batches)
    t = Hash.new(0.0)
    engine = filter.instance_variable_get(:@engine)
    batches.each do |events|
      a = now
      items, origins = filter.send(:collect, events)
      b = now
      buf = engine.send(:encode, items)
      c = now
      result = filter.send(:lookup, items)
      d = now
      filter.send(:apply, events, origins, result)
      e = now
      t[:collect] += b - a
      t[:encode] += c - b
      t[:lookup] += d - c # encode again + FFI + decode
      t[:apply] += e - d
      buf.clear
    end
    t
  end

  def run(addr, misp_url, hit)
    loaded = PipelineBench::Loaded.new(addr)
    gen = PipelineBench::Generator.new(loaded, 42)
    hashes = gen.events(50_000, hit)
    n = hashes.size
    floor = PipelineBench.floor
    3.times do
      f = PipelineBench.misp_enrich(addr, misp_url)
      phases(f, PipelineBench.batches(hashes))
      phases(f, PipelineBench.batches(hashes))
      f.close
      PipelineBench.run(floor, PipelineBench.batches(hashes), 1)
    end
    f = PipelineBench.misp_enrich(addr, misp_url)
    cold = phases(f, PipelineBench.batches(hashes))
    warm = phases(f, PipelineBench.batches(hashes))
    # The FFI call alone, on the warm cache: the batches' items, encoded once.
    engine = f.instance_variable_get(:@engine)
    item_batches = PipelineBench.batches(hashes).map { |b| f.send(:collect, b).first }
    a = now
    item_batches.each { |items| engine.lookup(items) }
    lookup_only = now - a
    encoded = item_batches.map { |items| engine.send(:encode, items) }
    out, len, err, err_len = engine.send(:scratch)
    handle = engine.instance_variable_get(:@handle)
    a = now
    raw = encoded.map do |buf|
      MispEnrich::Native::Functions.misp_enrich_engine_lookup(handle, buf, buf.bytesize, out, len, err, 1024, err_len)
      engine.send(:take_buffer, out)
    end
    ffi_only = now - a
    a = now
    raw.each { |r| engine.send(:decode, r) }
    decode_only = now - a
    f.close
    floor_s = PipelineBench.run(floor, PipelineBench.batches(hashes), 1)
    puts "misp_enrich phases, #{n} events, #{hit}% hits, 1 worker (µs per event)"
    puts "| phase | cold | warm |"
    puts "|---|---:|---:|"
    %i[collect encode lookup apply].each do |k|
      puts format("| %s | %.2f | %.2f |", k, cold[k] / n * 1e6, warm[k] / n * 1e6)
    end
    puts format("| total (without the extra encode) | %.2f | %.2f |",
                (cold[:collect] + cold[:lookup] + cold[:apply]) / n * 1e6,
                (warm[:collect] + warm[:lookup] + warm[:apply]) / n * 1e6)
    puts format("| floor (read the 4 fields) | %.2f | |", floor_s / n * 1e6)
    puts format("| warm: Engine#lookup alone (encode+FFI+decode) | | %.2f |", lookup_only / n * 1e6)
    puts format("| warm: FFI call + take_buffer alone | | %.2f |", ffi_only / n * 1e6)
    puts format("| warm: decode alone | | %.2f |", decode_only / n * 1e6)
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
