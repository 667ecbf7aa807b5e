# encoding: utf-8
# Test-only stand-in (never shipped) for logstash-core's
# lib/logstash/namespace.rb: the module layout plugins rely on.
module LogStash
  module Inputs; end
  module Outputs; end
  module Filters; end
  module Codecs; end
  module Config; end
  module Util; end
  module Plugins; end
  module PluginMixins; end
  module Instrument; end
  module Logging; end
end

# In a running Logstash the error classes are always loaded (they are
# defined by logstash-core's Java bootstrap), so make them available from
# any require path a plugin might use.
require "logstash/errors"
