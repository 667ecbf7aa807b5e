# encoding: utf-8
# The Ruby side of a lookup, measured under JRuby: encoding a batch of 125
# events × 4 fields into the wire format; a whole Native::Engine#lookup
# (encode, one FFI call, decode) with a warm cache, with fresh values, with
# one value per call; and the seed's pattern (one Dalli get per value),
# against a memcached this script starts and stops. Run by
# `bench/engine.sh --jruby`; prints a Markdown table.
$LOAD_PATH.unshift(File.expand_path("../logstash-filter-misp/lib", __dir__))
ENV["MISP_ENRICH_LIB"] = ARGV[0] if ARGV[0]
require "logstash/filters/misp_enrich/native"
require "socket"

Native = MispEnrich::Native

probe = TCPServer.new("127.0.0.1", 0)
port = probe.addr[1]
probe.close
pid = Process.spawn("memcached", "-l", "127.0.0.1", "-p", port.to_s, "-U", "0", "-u", "root", "-t", "1",
                    out: File::NULL, err: File::NULL)
begin
  begin
    TCPSocket.new("127.0.0.1", port).close
  rescue SystemCallError
    sleep 0.02
    retry
  end
  engine = Native::Engine.new(servers: ["127.0.0.1:#{port}"], range_refresh_ms: 0)
  fields = %w[ip domain sha256 ip]
  value = lambda do |ns, n|
    case ns
    when "ip" then "10.#{(n >> 16) & 255}.#{(n >> 8) & 255}.#{n & 255}"
    when "domain" then "host#{n}.cdn#{n % 97}.example.com"
    else format("%064X", n * 2_654_435_761)
    end
  end
  batch = lambda do |base|
    Array.new(500) { |i| [i / 4, fields[i % 4], value.call(fields[i % 4], base + i)] }
  end
  warm = batch.call(0)
  engine.lookup(warm)
  rows = []
  # Runs blk n/5 times (JIT warm-up), then n times; items: values per call.
  measure = lambda do |name, n, items = 500, &blk|
    [n / 5, n].each_with_index do |count, pass|
      t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      count.times { |i| blk.call(i) }
      elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
      rows << [name, elapsed / count * 1e6, items * count / elapsed] if pass == 1
    end
  end
  measure.call("encode only (one Array#pack)", 5000) { engine.send(:encode, warm) }
  measure.call("lookup, warm cache", 5000) { engine.lookup(warm) }
  cold = Array.new(1000) { |b| batch.call(1_000_000 + b * 500) }
  measure.call("lookup, cold cache", 1000) { |i| engine.lookup(cold[i % 1000]) }
  measure.call("lookup, empty batch (FFI floor)", 20_000, 0) { engine.lookup([]) }
  singles = Array.new(2000) { |i| [[0, "ip", value.call("ip", 5_000_000 + i)]] }
  measure.call("lookup, cold cache, batch size 1", 2000, 1) { |i| engine.lookup(singles[i]) }
  seed = nil
  begin
    require "dalli"
    # The seed's pattern: logstash-filter-memcached does one Dalli get per field per event.
    dalli = Dalli::Client.new("127.0.0.1:#{port}", socket_timeout: 1)
    keys = Array.new(4000) { |i| "misp-ip:#{value.call('ip', 7_000_000 + i)}" }
    4000.times { |i| dalli.get(keys[i]) } # warm-up
    t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    keys.each { |k| dalli.get(k + "x") }
    seed = 4000 / (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t)
  rescue LoadError
    seed = nil
  end
  puts "| JRuby #{JRUBY_VERSION} | µs per call | lookups/s |"
  puts "|---|---|---|"
  rows.each do |name, us, rate|
    puts format("| %s | %.1f | %s |", name, us, rate.zero? ? "—" : format("%.0f", rate))
  end
  puts format("| seed pattern: Dalli `get` per value | %.1f | %.0f |", 1e6 / seed, seed) if seed
  engine.close
ensure
  Process.kill("KILL", pid)
  Process.wait(pid)
end
