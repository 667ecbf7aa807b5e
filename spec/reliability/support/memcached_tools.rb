# encoding: utf-8
# Test-only: talking to a real memcached process over its text protocol,
# for the reliability specs: load many keys in one pipelined round trip,
# dump everything the server holds (keys, flags, values and CAS uniques) and
# read its command counters, so a spec can prove that nothing was written.
require "socket"
require "uri"

module SpecSupport
  module MemcachedTools
    module_function

    # Stores { key => value } (flags 0, as misp-load writes), pipelined.
    def load(port, pairs)
      with_socket(port) do |s|
        pairs.each_slice(500) do |slice|
          s.write(slice.map { |k, v| "set #{k} 0 0 #{v.bytesize}\r\n#{v}\r\n" }.join)
          slice.each do |k, _|
            reply = s.gets
            raise "memcached refused #{k}: #{reply.inspect}" unless reply == "STORED\r\n"
          end
        end
      end
    end

    # Everything the server holds: { key => [flags, value bytes, cas] }.
    # CAS uniques change on every write, even of the same value, so equal
    # dumps mean nothing was written in between.
    def dump(port)
      keys = with_socket(port) do |s|
        s.write("lru_crawler metadump all\r\n")
        list = []
        while (line = s.gets)
          break if line.start_with?("END")
          raise "metadump: #{line.inspect}" if line.start_with?("BUSY", "ERROR", "CLIENT_ERROR")
          k = line[/\Akey=(\S+)/, 1]
          list << URI.decode_www_form_component(k) if k
        end
        list
      end
      out = {}
      with_socket(port) do |s|
        keys.each_slice(100) do |slice|
          s.write("gets #{slice.join(' ')}\r\n")
          while (header = s.gets) != "END\r\n"
            raise "gets: #{header.inspect}" unless header.start_with?("VALUE ")
            _, key, flags, len, cas = header.split
            value = s.read(len.to_i)
            s.read(2)
            out[key] = [flags.to_i, value, cas.to_i]
          end
        end
      end
      out
    end

    # The server's counters ("stats"), as { name => String }.
    def stats(port)
      with_socket(port) do |s|
        s.write("stats\r\n")
        stats = {}
        while (line = s.gets) != "END\r\n"
          _, name, value = line.split(" ", 3)
          stats[name] = value.to_s.strip
        end
        stats
      end
    end

    # The counters that move when anything changes the store.
    WRITE_STATS = %w[cmd_set cmd_flush cmd_touch delete_hits delete_misses incr_hits incr_misses
                     decr_hits decr_misses cas_hits cas_misses cas_badval touch_hits touch_misses
                     curr_items total_items].freeze

    def write_stats(port)
      stats(port).select { |k, _| WRITE_STATS.include?(k) }
    end

    def with_socket(port)
      s = TCPSocket.new("127.0.0.1", port)
      yield s
    ensure
      s.close if s
    end
  end
end
