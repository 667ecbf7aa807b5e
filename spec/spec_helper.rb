# encoding: utf-8
# Shared setup of the plugin's specs: they run on the real logstash-core that
# the real-logstash kit builds (Event, Timestamp, Filters::Base, the config
# mixin, the metric store, the logger, execution contexts), as official
# plugins' specs do through logstash-devutils. scripts/spec finds
# LOGSTASH_HOME (scripts/logstash-home), builds the native library
# (scripts/vendor) and runs RSpec with Debian's rspec.
home = ENV["LOGSTASH_HOME"].to_s
if home.empty? || !File.directory?(File.join(home, "logstash-core", "lib"))
  abort "spec_helper: LOGSTASH_HOME must name a Logstash home (run the specs with scripts/spec)"
end

# logstash-core and the gems Logstash's own bundle puts on the load path for
# the plugin's runtime dependencies (only the ECS mixin), as bundler would.
$LOAD_PATH.unshift(File.join(home, "logstash-core", "lib"))
Dir.glob(File.join(home, "vendor", "bundle", "jruby", "*", "gems", "logstash-mixin-ecs_compatibility_support-*", "lib"))
   .each { |dir| $LOAD_PATH.unshift(dir) }
$LOAD_PATH.unshift(File.expand_path("../logstash-filter-misp/lib", __dir__))
$LOAD_PATH.unshift(File.expand_path("support", __dir__))

require "logstash-core"
require "logstash/environment"
require "logstash/logging"
require "logstash/event"
require "logstash/codecs/base"
require "logstash/filters/base"
require "logstash/instrument/collector"
require "logstash/instrument/metric"
require "logstash/filters/misp_enrich/native"
require "filter_driver"

# Logstash's log4j configuration, as bin/logstash would set it up (warn and
# above on the console, so a spec run shows what users would see).
LogStash::Logging::Logger.configure_logging(ENV["LOG_LEVEL"] || "warn")

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :defined
end
