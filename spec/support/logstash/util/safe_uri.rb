# encoding: utf-8
# Test-only stand-in (never shipped), minimal LogStash::Util::SafeURI: a URI
# whose to_s/inspect hide the password. A bare "host[:port]" is read as
# "//host[:port]" (no scheme), as logstash-core does.
require "uri"
require "logstash/namespace"

module LogStash
  module Util
    class SafeURI
      PASS_PLACEHOLDER = "xxxxxx".freeze
      HOSTNAME_PORT = /\A(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\])(?::\d+)?\z/

      def self.from(arg)
        arg.is_a?(SafeURI) ? arg : new(arg)
      end

      def initialize(arg)
        @uri = case arg
               when SafeURI then arg.uri.dup
               when URI::Generic then arg.dup
               when String
                 text = HOSTNAME_PORT.match(arg) ? "//#{arg}" : arg
                 begin
                   URI.parse(text)
                 rescue URI::InvalidURIError => e
                   raise ArgumentError, e.message
                 end
               else
                 raise ArgumentError, "Expected a string, java.net.URI, or URI, got a #{arg.class} creating a URL"
               end
      end

      # The real URI, password included.
      def uri
        @uri
      end

      def to_s
        safe = @uri.dup
        safe.password = PASS_PLACEHOLDER if safe.password
        safe.to_s
      end
      alias_method :sanitized, :to_s

      def inspect
        to_s
      end

      %w(scheme user password host port path query fragment).each do |part|
        define_method(part) { @uri.public_send(part) }
      end

      def hostname
        @uri.hostname
      end

      def absolute?
        @uri.absolute?
      end

      def ==(other)
        other.is_a?(SafeURI) && other.uri == @uri
      end
    end
  end
end
