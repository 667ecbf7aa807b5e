# encoding: utf-8
# Why this file exists: the end-to-end tests run a few real Logstash
# pipelines and check many things on each run's output; RSpec's one-example-
# per-expectation style would mean one Logstash start per check. This is the
# small alternative: named tests, each with any number of checks; a failed
# check prints what was expected and what came instead, the other checks and
# tests still run, and the exit status says whether all passed.
class Checks
  def initialize(out = $stdout)
    @out = out
    @failures = []
    @count = 0
    @started = Time.now
  end

  # Runs the set-up; a failure here stops everything (nothing can be tested).
  def setup(name)
    started = Time.now
    @out.puts "-- #{name}"
    yield
    @out.puts "   done (#{(Time.now - started).round(1)} s)"
  rescue StandardError => e
    @out.puts "   FAILED: #{e.class}: #{e.message}"
    exit 1
  end

  def test(name)
    started = Time.now
    @current = name
    @out.puts "-- #{name}"
    yield
  rescue StandardError => e
    fail_check("runs to the end", "#{e.class}: #{e.message}\n#{e.backtrace.first(5).join("\n")}")
  ensure
    @out.puts "   (#{(Time.now - started).round(1)} s)"
  end

  # One check; detail (a String, or a block giving one) is printed when it fails.
  def check(ok, what, detail = nil)
    @count += 1
    if ok
      @out.puts "   ok   #{what}"
    else
      fail_check(what, detail.respond_to?(:call) ? detail.call : detail)
    end
    ok
  end

  # Prints the result; returns the exit status (0 when every check passed).
  def summary
    @out.puts
    @out.puts "#{@count} checks, #{@failures.size} failed (#{(Time.now - @started).round} s)"
    @failures.each { |test, what| @out.puts "  FAILED: #{test}: #{what}" }
    @failures.empty? ? 0 : 1
  end

  private

  def fail_check(what, detail)
    @failures << [@current, what]
    @out.puts "   FAIL #{what}"
    @out.puts detail.to_s.lines.first(30).map { |l| "        #{l}" }.join unless detail.to_s.empty?
  end
end
