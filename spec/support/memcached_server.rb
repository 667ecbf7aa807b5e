# encoding: utf-8
# Test-only: a real memcached process on a free loopback port, started and
# killed by the specs themselves (CI installs the Debian package; -u root is
# needed only when the specs run as root, where memcached refuses otherwise).
require "socket"
require "uri"

module SpecSupport
  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    server.close
    port
  end

  class MemcachedServer
    attr_reader :port

    def initialize(port = SpecSupport.free_port)
      @port = port
      start
    end

    def start
      return if @pid
      @pid = Process.spawn("memcached", "-l", "127.0.0.1", "-p", @port.to_s, "-U", "0", "-u", "root",
                           out: File::NULL, err: File::NULL)
      deadline = Time.now + 10
      begin
        TCPSocket.new("127.0.0.1", @port).close
      rescue SystemCallError
        raise "memcached did not start on #{@port}" if Time.now > deadline
        sleep 0.02
        retry
      end
    end

    # Kills the server, as a crash would: its data is gone.
    def stop
      return unless @pid
      Process.kill("KILL", @pid)
      Process.wait(@pid)
      @pid = nil
    end

    def restart
      stop
      start
    end

    def addr
      "127.0.0.1:#{@port}"
    end

    # Stores raw bytes under key, as misp-load and the seed's loader do (flags 0).
    def set(key, value)
      command("set #{key} 0 0 #{value.bytesize}\r\n#{value}\r\n", "STORED\r\n")
    end

    def flush
      command("flush_all\r\n", "OK\r\n")
    end

    # The raw value stored under key, or nil.
    def get(key)
      s = TCPSocket.new("127.0.0.1", @port)
      s.write("get #{key}\r\n")
      header = s.gets
      return nil if header == "END\r\n"
      value = s.read(header.split[3].to_i)
      s.close
      value
    end

    # Every key the server holds (memcached >= 1.4.31's metadump).
    def keys
      s = TCPSocket.new("127.0.0.1", @port)
      s.write("lru_crawler metadump all\r\n")
      keys = []
      while (line = s.gets) && line != "END\r\n"
        k = line[/\Akey=(\S+)/, 1]
        keys << URI.decode_www_form_component(k) if k
      end
      s.close
      keys.sort
    end

    private

    def command(text, expected)
      s = TCPSocket.new("127.0.0.1", @port)
      s.write(text)
      reply = s.gets
      s.close
      raise "memcached said #{reply.inspect}" unless reply == expected
    end
  end
end
