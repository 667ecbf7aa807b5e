# encoding: utf-8
# Test-only stand-in (never shipped) for LogStash::Util::Loggable: `logger`
# on classes and instances, one recording logger per class, named as log4j
# names are ("LogStash::Filters::MispEnrich" -> "logstash.filters.mispenrich").
require "logstash/namespace"
require "logstash/logging/logger"

module LogStash
  module Util
    module Loggable
      def self.included(base)
        base.extend(self) if base.is_a?(Class)
      end

      def self.log4j_name(owner)
        klass = owner.is_a?(Module) ? owner : owner.class
        # An anonymous class has no name; Logstash then falls back to the
        # name of its class ("Class").
        (klass.name || klass.class.name).gsub("::", ".").downcase
      end

      def logger
        LogStash::Logging::Logger.for(Loggable.log4j_name(self))
      end

      def slow_logger(*_thresholds)
        LogStash::Logging::NullSlowLogger.new
      end

      def deprecation_logger
        LogStash::Logging::DeprecationLogger.for(Loggable.log4j_name(self))
      end
    end
  end
end
