# encoding: utf-8
# Test-only: a TCP proxy on loopback between the plugin and a real memcached
# process, that injects faults into the path on command. Written for the
# reliability specs (threads, plain sockets; no mock of the server: every
# byte the plugin gets in :pass and :delay modes comes from memcached).
#
#   proxy = FaultProxy.new(memcached_port)
#   proxy.addr               # "127.0.0.1:<port>": give this to the plugin
#   proxy.mode = :pass       # forward both ways (the default)
#   proxy.delay = 0.05       # :delay mode: hold each reply chunk 50 ms
#   proxy.mode = :garbage    # replies replaced by protocol garbage (see GARBAGE)
#   proxy.down!              # close the listener and every connection: the
#   proxy.up!                # port refuses connections, as a stopped server's does
#   proxy.stop
#
# Switching modes affects connections already open as well as new ones.
require "socket"

module SpecSupport
  class FaultProxy
    # What :garbage sends instead of memcached's reply, one kind per reply in
    # turn. None of them is a valid answer to the request, so each must make
    # the lookup fail (and the event be tagged), never produce a match.
    GARBAGE = [
      :noise,          # random bytes
      :bad_header,     # a line that is neither VALUE nor END
      :huge_length,    # VALUE with a length no client should allocate
      :endless_line,   # 64 KiB without a newline
      :truncated,      # the start of a VALUE block, then the connection closes
      :server_error,   # SERVER_ERROR instead of an answer
      :foreign_key,    # a VALUE for a key nobody asked, claiming a match
      :binary,         # memcached's binary protocol magic byte and a header
      :trailing_end,   # the real reply, then an extra END: the next request on
                       # this connection would read it as its (empty) answer
      :trailing_value  # the real reply, then a VALUE for a key nobody asked yet
    ].freeze

    attr_reader :port, :upstream_port, :garbage_sent
    attr_accessor :delay
    # In :garbage mode, always this kind (nil: every kind in turn).
    attr_accessor :garbage_kind

    def initialize(upstream_port, port: nil)
      @upstream_port = upstream_port
      @mode = :pass
      @delay = 0.0
      @lock = Mutex.new
      @sockets = []
      @garbage_turn = 0
      @garbage_sent = Hash.new(0)
      @rng = Random.new(7)
      @port = port || SpecSupport.free_port
      up!
    end

    def addr
      "127.0.0.1:#{@port}"
    end

    def mode
      @lock.synchronize { @mode }
    end

    def mode=(mode)
      raise ArgumentError, "unknown mode #{mode.inspect}" unless %i[pass delay garbage].include?(mode)
      @lock.synchronize { @mode = mode }
    end

    # Listens again on the same port.
    def up!
      @lock.synchronize do
        return if @server
        @server = TCPServer.new("127.0.0.1", @port)
        server = @server
        @acceptor = Thread.new { accept_loop(server) }
      end
    end

    # Stops listening and closes every connection: connects are refused.
    def down!
      server, acceptor, sockets = @lock.synchronize do
        s = @server
        @server = nil
        [s, @acceptor, @sockets.dup.tap { @sockets.clear }]
      end
      return unless server
      server.close rescue nil
      acceptor.join(5) if acceptor
      sockets.each { |s| s.close rescue nil }
    end

    def stop
      down!
    end

    def connections
      @lock.synchronize { @sockets.size / 2 }
    end

    private

    def accept_loop(server)
      loop do
        client = begin
          server.accept
        rescue IOError, SystemCallError
          return
        end
        Thread.new { serve(client) }
      end
    end

    def serve(client)
      upstream = begin
        TCPSocket.new("127.0.0.1", @upstream_port)
      rescue SystemCallError
        # memcached is not there: the client sees the connection close.
        client.close rescue nil
        return
      end
      track(client, upstream)
      up = Thread.new { pump_requests(client, upstream) }
      pump_replies(upstream, client)
      up.join
    ensure
      untrack(client, upstream)
    end

    def track(*sockets)
      @lock.synchronize { @sockets.concat(sockets) }
    end

    def untrack(*sockets)
      sockets.compact.each { |s| s.close rescue nil }
      @lock.synchronize { sockets.each { |s| @sockets.delete(s) } }
    end

    # Client to memcached: forwarded as it is, in every mode.
    def pump_requests(client, upstream)
      loop do
        upstream.write(client.readpartial(64 * 1024))
      end
    rescue IOError, SystemCallError
      close_both(client, upstream)
    end

    # memcached to client, through the fault of the moment.
    def pump_replies(upstream, client)
      loop do
        chunk = upstream.readpartial(64 * 1024)
        case mode
        when :pass
          client.write(chunk)
        when :delay
          sleep(@delay)
          client.write(chunk)
        when :garbage
          return close_both(client, upstream) unless write_garbage(client, chunk)
        end
      end
    rescue IOError, SystemCallError
      close_both(client, upstream)
    end

    # Writes one kind of garbage instead of `chunk`; false when the kind
    # ends with the connection closed.
    def write_garbage(client, chunk)
      kind = @lock.synchronize do
        k = @garbage_kind || GARBAGE[@garbage_turn % GARBAGE.size]
        @garbage_turn += 1
        @garbage_sent[k] += 1
        k
      end
      case kind
      when :noise
        bytes = Array.new([chunk.bytesize, 16].max) { @rng.rand(256) }.pack("C*")
        client.write(bytes)
      when :bad_header
        client.write("GARBAGE \xff\xfe\x00 misp-ip:203.0.113.7 0 8\r\n".b)
      when :huge_length
        client.write("VALUE misp-ip:203.0.113.7 0 99999999999\r\n")
      when :endless_line
        client.write("A" * 65_536)
      when :truncated
        client.write("VALUE misp-ip:203.0.113.7 0 100\r\n7#ip-d")
        return false
      when :server_error
        client.write("SERVER_ERROR out of memory storing object\r\n")
      when :foreign_key
        client.write("VALUE misp-ip:198.18.0.1 0 8\r\n1#ip-dst\r\nEND\r\n")
      when :binary
        client.write([0x81, 0x00, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff].pack("C*"))
      when :trailing_end
        client.write(chunk + "END\r\n")
      when :trailing_value
        client.write(chunk + "VALUE misp-ip:192.0.2.1 0 8\r\n1#ip-dst\r\nEND\r\n")
      end
      true
    end

    def close_both(a, b)
      a.close rescue nil
      b.close rescue nil
      nil
    end
  end
end
