# encoding: utf-8
# Puts the real logstash-core of LOGSTASH_HOME (the kit-built Logstash that
# scripts/logstash-home prints) on the load path and loads it, with the gems
# Logstash's own bundle holds for the plugin's runtime dependencies (only the
# ECS mixin), as bundler would. Shared by spec/spec_helper.rb and the
# benchmarks under bench/, so both run on the same Event, Filters::Base,
# config mixin, metric store and logger as a real pipeline. GEM_PATH must
# hold "$LOGSTASH_HOME/vendor/bundle/jruby/2.6.0" (scripts/spec sets it).
home = ENV["LOGSTASH_HOME"].to_s
if home.empty? || !File.directory?(File.join(home, "logstash-core", "lib"))
  abort "LOGSTASH_HOME must name a Logstash home (scripts/logstash-home prints it; run the specs with scripts/spec)"
end

$LOAD_PATH.unshift(File.join(home, "logstash-core", "lib"))
Dir.glob(File.join(home, "vendor", "bundle", "jruby", "*", "gems", "logstash-mixin-ecs_compatibility_support-*", "lib"))
   .each { |dir| $LOAD_PATH.unshift(dir) }
$LOAD_PATH.unshift(File.expand_path("../../logstash-filter-misp/lib", __dir__))

require "logstash-core"
require "logstash/environment"
require "logstash/logging"
require "logstash/event"
require "logstash/codecs/base"
require "logstash/filters/base"
require "logstash/instrument/collector"
require "logstash/instrument/metric"
