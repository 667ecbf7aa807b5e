# encoding: utf-8
# Shared setup of the specs. They run under plain JRuby (no Logstash can be
# installed here): `scripts/test` builds the native library in release mode
# and copies it to logstash-filter-misp/vendor/<platform>/ first.
$LOAD_PATH.unshift(File.expand_path("../logstash-filter-misp/lib", __dir__))
$LOAD_PATH.unshift(File.expand_path("support", __dir__))

require "logstash_stand_in"
require "logstash/filters/misp_enrich/native"

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :defined
end
