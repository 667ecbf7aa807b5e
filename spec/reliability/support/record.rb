# encoding: utf-8
# Test-only: the rows a reliability spec adds to docs/RELIABILITY.md. Each
# producer owns one file, target/reliability/<name>.tsv, rewritten on every
# run: a "#section" line with the table's title, then one row per fault or
# input tried (what, what was checked, the result with its numbers).
# tests/reliability-report renders every such file into docs/RELIABILITY.md.
require "fileutils"

module SpecSupport
  class ReliabilityRecord
    DIR = File.expand_path("../../../target/reliability", __dir__)

    attr_reader :path

    def initialize(name, section)
      FileUtils.mkdir_p(DIR)
      @path = File.join(DIR, "#{name}.tsv")
      @lock = Mutex.new
      File.write(@path, "#section\t#{clean(section)}\n")
    end

    def row(what, checked, result)
      line = [what, checked, result].map { |c| clean(c) }.join("\t") + "\n"
      @lock.synchronize { File.open(@path, "a") { |f| f.write(line) } }
    end

    private

    def clean(text)
      text.to_s.gsub(/[\t\r\n]+/, " ").strip
    end
  end
end
