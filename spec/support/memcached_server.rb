# encoding: utf-8
# Test-only: a real memcached process on a free loopback port, started and
# killed by the specs themselves (CI installs the Debian package; -u root is
# needed only when the specs run as root, where memcached refuses otherwise).
# With `auth: [user, password]` it runs with ASCII authentication
# (`memcached -Y <auth file>`, 1.5.15 or later) and the helpers log in first.
# MemcachedClient holds those helpers, for any memcached address (the
# benchmarks use it against memcached behind latency-proxy).
require "socket"
require "tmpdir"
require "fileutils"
require "uri"
require "forwardable"

module SpecSupport
  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    server.close
    port
  end

  class MemcachedServer
    extend Forwardable
    attr_reader :port

    # auth: nil, or [user, password] for a server that accepts only that login.
    def initialize(port = SpecSupport.free_port, auth: nil)
      @port = port
      @auth = auth
      start
    end

    def start
      return if @pid
      args = ["-l", "127.0.0.1", "-p", @port.to_s, "-U", "0", "-u", "root"]
      if @auth
        @auth_dir = Dir.mktmpdir("memcached-auth")
        auth_file = File.join(@auth_dir, "auth")
        File.write(auth_file, "#{@auth[0]}:#{@auth[1]}\n")
        args += ["-Y", auth_file]
      end
      @pid = Process.spawn("memcached", *args, out: File::NULL, err: File::NULL)
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
      FileUtils.rm_rf(@auth_dir) if @auth_dir
      @auth_dir = nil
    end

    def restart
      stop
      start
    end

    def addr
      "127.0.0.1:#{@port}"
    end

    # The raw-protocol helpers (set, get, flush, keys), logged in when the
    # server needs it.
    def client
      @client ||= MemcachedClient.new(addr, auth: @auth)
    end

    def_delegators :client, :set, :get, :flush, :keys
  end

  # The few raw memcached commands the specs and benchmarks need, one short
  # connection each, against any "host:port" (a MemcachedServer, or a
  # memcached behind a proxy).
  class MemcachedClient
    def initialize(addr, auth: nil)
      @host, port = addr.split(":")
      @port = Integer(port)
      @auth = auth
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
      s = connect
      s.write("get #{key}\r\n")
      header = s.gets
      return nil if header.nil? || header == "END\r\n"
      s.read(header.split[3].to_i)
    ensure
      s.close if s
    end

    # Every key the server holds (memcached >= 1.4.31's metadump).
    def keys
      s = connect
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

    # A connection, logged in when the server needs it (the login is a `set`
    # whose data is "<user> <password>").
    def connect
      s = TCPSocket.new(@host, @port)
      return s unless @auth
      data = "#{@auth[0]} #{@auth[1]}"
      s.write("set auth 0 0 #{data.bytesize}\r\n#{data}\r\n")
      reply = s.gets
      raise "memcached refused the login: #{reply.inspect}" unless reply == "STORED\r\n"
      s
    end

    def command(text, expected)
      s = connect
      s.write(text)
      reply = s.gets
      s.close
      raise "memcached said #{reply.inspect}" unless reply == expected
    end
  end
end
