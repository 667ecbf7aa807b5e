# encoding: utf-8
# Records what a plugin class logs through Logstash's real logger, for specs
# that check what the plugin says: each call at every level is recorded
# (message and data, as log4j would format them) and then passed on to the
# real logger.
#
#   capture = SpecSupport::LogCapture.new(self, LogStash::Filters::MispEnrich.logger)
#   ... run the plugin ...
#   capture.lines(:error)        # ["misp_enrich: ... {:error=>...}", ...]
module SpecSupport
  class LogCapture
    LEVELS = %i[fatal error warn info debug trace].freeze

    # example: the running RSpec example (for allow/receive);
    # logger: a LogStash::Logging::Logger.
    def initialize(example, logger)
      @lines = Queue.new
      lines = @lines
      LEVELS.each do |level|
        example.allow(logger).to example.receive(level).and_wrap_original do |original, message, data = {}|
          lines << [level, data.empty? ? message.to_s : "#{message} #{data.inspect}"]
          original.call(message, data)
        end
      end
    end

    # Recorded lines, all or of one level (:error, :warn, :info, :debug).
    def lines(level = nil)
      all = []
      all << @lines.pop until @lines.empty?
      all.each { |l| @lines << l }
      all.select { |l| level.nil? || l[0] == level }.map(&:last)
    end
  end
end
