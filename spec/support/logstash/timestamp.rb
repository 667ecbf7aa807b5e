# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Timestamp
# (org.logstash.ext.JrubyTimestampExtLibrary / org.logstash.Timestamp):
# an immutable UTC instant with nanosecond precision.
require "logstash/namespace"

module LogStash
  class Timestamp
    include Comparable

    ISO8601 = /\A
      (?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})
      (?:T(?<hour>\d{2}):(?<minute>\d{2})
        (?::(?<second>\d{2})(?:[.,](?<fraction>\d{1,9}))?)?
      )?
      (?<zone>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?
    \z/xi

    # time: a Time (any zone) or nil for "now".
    def initialize(time = nil)
      time = ::Time.now if time.nil?
      raise TypeError, "wrong argument type #{time.class} (expected Time)" unless time.is_a?(::Time)
      @time = time.dup.utc.freeze
      freeze
    end

    def self.now
      new
    end

    def self.at(*args)
      new(::Time.at(*args))
    end

    # Lenient ISO8601 as org.logstash.Timestamp accepts it: a date, an
    # optional T-time (seconds and fraction optional) and an optional zone
    # (default: the JVM's zone, here the process's local zone).
    def self.parse_iso8601(text)
      m = ISO8601.match(text.to_s)
      raise LogStash::TimestampParserError, "invalid timestamp string #{text.to_s.inspect}, error=Invalid ISO8601 input `#{text}`" unless m
      fraction = (m[:fraction] || "").ljust(9, "0").to_i
      seconds = Rational(m[:second].to_i) + Rational(fraction, 1_000_000_000)
      args = [m[:year].to_i, m[:month].to_i, m[:day].to_i, m[:hour].to_i, m[:minute].to_i, seconds]
      zone = m[:zone]
      time = if zone.nil?
               ::Time.new(*args)
             elsif zone.upcase == "Z"
               ::Time.new(*args, "+00:00")
             else
               digits = zone.delete(":")
               sign = digits[0]
               offset = "#{sign}#{digits[1, 2]}:#{(digits[3, 2] || '00')}"
               ::Time.new(*args, offset)
             end
      new(time)
    rescue ArgumentError => e
      raise LogStash::TimestampParserError, "invalid timestamp string #{text.to_s.inspect}, error=#{e.message}"
    end

    def self.coerce(value)
      case value
      when Timestamp then value
      when ::Time then new(value)
      when String then parse_iso8601(value)
      end
    rescue LogStash::TimestampParserError
      nil
    end

    def time
      @time
    end

    def to_i
      @time.to_i
    end

    def to_f
      @time.to_f
    end

    def usec
      @time.usec
    end

    def nsec
      @time.nsec
    end

    def year
      @time.year
    end

    # ISO_INSTANT, at least millisecond precision: 2015-05-28T23:02:05.350Z,
    # 6 or 9 fraction digits only when the instant needs them.
    def to_s
      nanos = @time.nsec
      fraction = if nanos % 1_000_000 == 0
                   format("%03d", nanos / 1_000_000)
                 elsif nanos % 1_000 == 0
                   format("%06d", nanos / 1_000)
                 else
                   format("%09d", nanos)
                 end
      @time.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"
    end
    alias_method :to_iso8601, :to_s
    alias_method :inspect, :to_s

    def to_json(*_args)
      "\"#{to_s}\""
    end

    def <=>(other)
      return nil unless other.is_a?(Timestamp)
      @time <=> other.time
    end

    def ==(other)
      other.is_a?(Timestamp) && @time == other.time
    end
    alias_method :eql?, :==

    def hash
      @time.hash
    end

    def +(seconds)
      Timestamp.new(@time + seconds)
    end

    def -(other)
      case other
      when Timestamp then @time - other.time
      when ::Time then @time - other
      else Timestamp.new(@time - other)
      end
    end
  end
end

module LogStashStandIn
  # Renders %{+joda} and %{{java.time}} patterns of Event#sprintf (UTC).
  # Covers the letters index names and paths use (years, months, days,
  # hours, minutes, seconds, fractions, ISO weeks, quoted literals);
  # unknown letters raise so that a spec never silently passes on them.
  module DatePattern
    module_function

    def format(time, pattern)
      out = +""
      index = 0
      while index < pattern.length
        char = pattern[index]
        if char == "'"
          close = pattern.index("'", index + 1) || pattern.length
          literal = pattern[(index + 1)...close]
          out << (literal.empty? ? "'" : literal)
          index = close + 1
        elsif char =~ /[A-Za-z]/
          run = 1
          run += 1 while pattern[index + run] == char
          out << field(time, char, run)
          index += run
        else
          out << char
          index += 1
        end
      end
      out
    end

    def field(time, letter, count)
      case letter
      when "y", "Y", "u", "x"
        count == 2 ? Kernel.format("%02d", time.year % 100) : time.year.to_s.rjust(count, "0")
      when "M"
        case count
        when 1 then time.month.to_s
        when 2 then Kernel.format("%02d", time.month)
        when 3 then time.strftime("%b")
        else time.strftime("%B")
        end
      when "d" then pad(time.day, count)
      when "H" then pad(time.hour, count)
      when "m" then pad(time.min, count)
      when "s" then pad(time.sec, count)
      when "S" then Kernel.format("%09d", time.nsec)[0, count].ljust(count, "0")
      when "w" then pad(time.strftime("%V").to_i, count)
      when "D" then pad(time.yday, count)
      when "E" then count >= 4 ? time.strftime("%A") : time.strftime("%a")
      else
        raise ArgumentError, "stand-in: date pattern letter #{letter.inspect} is not supported"
      end
    end

    def pad(value, count)
      value.to_s.rjust(count, "0")
    end
  end
end
