# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Logging::Logger (log4j
# behind it in Logstash). Loggers are per name (per plugin class, named like
# log4j names: "logstash.filters.mispenrich"), honour a level (default :info,
# Logstash's default), and RECORD what they log so specs can assert on it:
#
#   plugin.logger.messages              # => [#<Message level=:warn ...>, ...]
#   plugin.logger.messages(:error)      # only one level
#   plugin.logger.logged?(:warn, /memcached/)
#   LogStash::Logging::Logger.level = :debug   # all loggers (reset after each example)
require "logstash/namespace"

module LogStash
  module Logging
    class Logger
      LEVELS = { :trace => 0, :debug => 1, :info => 2, :warn => 3, :error => 4, :fatal => 5 }.freeze
      DEFAULT_LEVEL = :info

      Message = Struct.new(:logger, :level, :message, :data) do
        def to_s
          data.nil? || (data.respond_to?(:empty?) && data.empty?) ? "[#{level}] #{message}" : "[#{level}] #{message} #{data.inspect}"
        end
      end

      @registry = {}
      @lock = Mutex.new
      @level = DEFAULT_LEVEL

      class << self
        # The logger for a log4j-style name (one instance per name).
        def for(name)
          name = name.to_s
          @lock.synchronize { @registry[name] ||= new(name) }
        end

        # Default level of every logger that has no level of its own.
        def level
          @level
        end

        def level=(level)
          @level = check_level(level)
        end

        def loggers
          @lock.synchronize { @registry.values }
        end

        # Everything every logger recorded, in logger-name order.
        def all_messages(level = nil)
          loggers.sort_by(&:name).flat_map { |logger| logger.messages(level) }
        end

        # Clears all recorded messages and levels (done before each example
        # by logstash_stand_in.rb).
        def reset!
          @level = DEFAULT_LEVEL
          loggers.each(&:reset!)
        end

        def check_level(level)
          level = level.to_s.downcase.to_sym
          raise ArgumentError, "invalid log level #{level.inspect}" unless LEVELS.key?(level)
          level
        end
      end

      attr_reader :name

      def initialize(name)
        @name = name
        @level = nil
        @messages = []
        @lock = Mutex.new
      end

      def level
        @level || self.class.level
      end

      def level=(level)
        @level = level.nil? ? nil : self.class.check_level(level)
      end

      LEVELS.each_key do |level_name|
        define_method(level_name) do |message, data = {}|
          record(level_name, message, data)
        end

        define_method("#{level_name}?") do
          enabled?(level_name)
        end
      end

      def enabled?(level_name)
        LEVELS.fetch(level_name) >= LEVELS.fetch(level)
      end

      # Recorded messages, optionally of one level only (a copy).
      def messages(level_name = nil)
        all = @lock.synchronize { @messages.dup }
        level_name.nil? ? all : all.select { |m| m.level == level_name.to_sym }
      end

      # true when a message of that level matches (String: substring,
      # Regexp: match) its text.
      def logged?(level_name, pattern)
        messages(level_name).any? do |m|
          pattern.is_a?(Regexp) ? pattern =~ m.message.to_s : m.message.to_s.include?(pattern.to_s)
        end
      end

      def clear
        @lock.synchronize { @messages.clear }
      end

      def reset!
        clear
        @level = nil
      end

      private

      def record(level_name, message, data)
        return nil unless enabled?(level_name)
        entry = Message.new(@name, level_name, message, data)
        @lock.synchronize { @messages << entry }
        nil
      end
    end

    # The deprecation logger of a plugin (`deprecation_logger.deprecated(msg)`),
    # recorded at :warn under "deprecation.<name>".
    class DeprecationLogger
      def self.for(name)
        new(Logger.for("deprecation.#{name}"))
      end

      def initialize(logger)
        @logger = logger
      end

      def deprecated(message, data = {})
        @logger.warn(message, data)
      end

      def messages
        @logger.messages
      end
    end

    # Slowlog is not modelled: events are never reported as slow.
    class NullSlowLogger
      def on_event(*_args); end
    end
  end
end
