# encoding: utf-8
# Test-only stand-in (never shipped) for logstash-core's lib/logstash/logging.rb.
require "logstash/namespace"
require "logstash/logging/logger"
require "logstash/util/loggable"
