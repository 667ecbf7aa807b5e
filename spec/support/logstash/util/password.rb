# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Util::Password: wraps a
# secret so that it never shows in logs or inspect output.
require "logstash/namespace"

module LogStash
  module Util
    class Password
      attr_reader :value

      def initialize(password)
        @value = password
      end

      def to_s
        "<password>"
      end
      alias_method :inspect, :to_s

      def empty?
        @value.nil? || @value.empty?
      end

      def ==(other)
        other.is_a?(Password) && other.value == @value
      end
    end
  end
end
