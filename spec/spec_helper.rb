# encoding: utf-8
# Shared setup of the plugin's specs: they run on the real logstash-core that
# the real-logstash kit builds (Event, Timestamp, Filters::Base, the config
# mixin, the metric store, the logger, execution contexts), as official
# plugins' specs do through logstash-devutils. scripts/spec finds
# LOGSTASH_HOME (scripts/logstash-home), builds the native library
# (scripts/vendor) and runs RSpec with Debian's rspec.
$LOAD_PATH.unshift(File.expand_path("support", __dir__))
require "logstash_core"
require "logstash/filters/misp_enrich/native"
require "filter_driver"

# Logstash's log4j configuration, as bin/logstash would set it up (warn and
# above on the console, so a spec run shows what users would see).
LogStash::Logging::Logger.configure_logging(ENV["LOG_LEVEL"] || "warn")

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :defined
end
