# encoding: utf-8
# Why this file exists: the one place that puts misp_enrich into a real
# Logstash on this machine, shared by the end-to-end tests
# (tests/logstash/e2e.rb), the demo (examples/demo/run.rb) and the
# real-pipeline benchmark (bench/logstash.rb). Real processes only:
#
#   RealLogstash.build_gem(dir)          scripts/vendor, then `gem build` -> the .gem
#   RealLogstash::Home.install(gem, dir) a copy of the kit's Logstash 8.9.2
#                                        (scripts/logstash-home) with the gem
#                                        installed by `bin/logstash-plugin install`
#   home.start(...) / home.run(...)      `bin/logstash -f`: stdin (json_lines)
#                                        -> the given filter files -> stdout (json_lines)
#   RealLogstash::Services               memcached, misp-sim, misp-load
#
# The kit's own home is never changed: it is copied first (cp -a). In the
# copy, Logstash's console log goes to stderr (one line in
# config/log4j2.properties), so stdout carries events only and a log line
# can never land in the middle of a long event line.
# Every process started here is stopped (by its pid) when the Ruby process exits.
require "json"
require "fileutils"
require "socket"
require "open3"
require "tmpdir"
require "thread"

module RealLogstash
  ROOT = File.expand_path("../../..", __dir__)
  INPUT = "input { stdin { codec => json_lines } }\n".freeze
  OUTPUT = "output { stdout { codec => json_lines } }\n".freeze
  # The API key misp-sim accepts and misp-load sends (test value).
  MISP_KEY = "DemoDemoDemoDemoDemoDemoDemoDemoDemoDemo".freeze
  # What bin/logstash itself prints on stdout before Logstash starts.
  LAUNCHER_NOTICES = [/\AUsing system java: /, /\ASending Logstash logs to /].freeze
  # Environment that would make Logstash's JRuby load gems from elsewhere.
  FOREIGN_ENV = %w[GEM_HOME GEM_PATH RUBYOPT RUBYLIB BUNDLE_GEMFILE BUNDLE_PATH JRUBY_OPTS].freeze

  class Failure < StandardError; end

  # Runs a command to completion; raises Failure with its output when it fails.
  def self.capture!(*cmd, chdir: ROOT, env: {})
    out, status = Open3.capture2e(clean_env.merge(env), *cmd, chdir: chdir)
    raise Failure, "#{cmd.join(' ')} failed (#{status.exitstatus}):\n#{out}" unless status.success?
    out
  end

  def self.clean_env
    Hash[FOREIGN_ENV.map { |k| [k, nil] }]
  end

  # Builds the plugin gem from this work tree into dir; returns its path.
  def self.build_gem(dir)
    capture!(File.join(ROOT, "scripts/vendor"))
    gem = File.join(dir, "logstash-filter-misp_enrich.gem")
    capture!("jruby", "-S", "gem", "build", "logstash-filter-misp_enrich.gemspec", "--output", gem)
    gem
  end

  # The plugin's version, from the one place it is written.
  def self.version
    File.read(File.join(ROOT, "Cargo.toml"))[/^version = "([^"]+)"/, 1]
  end

  # A TCP port nothing listens on right now.
  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server.close if server
  end

  def self.wait_until(timeout, what)
    deadline = Time.now + timeout
    until (value = yield)
      raise Failure, "timed out after #{timeout} s waiting for #{what}" if Time.now > deadline
      sleep 0.05
    end
    value
  end

  # The processes this Ruby process started; each is stopped at exit.
  module Processes
    @pids = []
    @lock = Mutex.new

    def self.spawn(env, *cmd, **opts)
      pid = Process.spawn(RealLogstash.clean_env.merge(env), *cmd, **opts)
      @lock.synchronize { @pids << pid }
      pid
    end

    # TERM, then KILL after grace seconds; returns the exit status.
    def self.stop(pid, grace: 30)
      begin
        Process.kill("TERM", pid)
      rescue Errno::ESRCH
        nil
      end
      wait(pid, grace) || begin
        Process.kill("KILL", pid) rescue nil
        wait(pid, 5)
      end
    end

    # The exit status once pid has ended, or nil after timeout seconds.
    def self.wait(pid, timeout)
      deadline = Time.now + timeout
      loop do
        _, status = Process.waitpid2(pid, Process::WNOHANG)
        if status
          @lock.synchronize { @pids.delete(pid) }
          return status
        end
        return nil if Time.now > deadline
        sleep 0.05
      end
    rescue Errno::ECHILD
      @lock.synchronize { @pids.delete(pid) }
      nil
    end

    at_exit { @pids.dup.each { |pid| stop(pid, grace: 10) } }
  end

  # memcached, misp-sim and misp-load, from the workspace's binaries
  # (bin_dir: target/debug or target/release).
  class Services
    def initialize(dir, bin_dir)
      @dir = dir
      @bin_dir = bin_dir
      %w[misp-sim misp-load].each do |b|
        raise Failure, "#{bin(b)} is missing: build the workspace first" unless File.executable?(bin(b))
      end
    end

    def bin(name)
      File.join(@bin_dir, name)
    end

    # Starts memcached on port (a free one by default), with memory_mb of
    # memory (memcached's default 64 when nil); returns "127.0.0.1:port".
    def memcached(port = RealLogstash.free_port, memory_mb: nil)
      user = Process.uid.zero? ? ["-u", "root"] : []
      memory = memory_mb ? ["-m", memory_mb.to_s] : []
      Processes.spawn({}, "memcached", "-l", "127.0.0.1", "-p", port.to_s, "-U", "0", *user, *memory,
                      out: File::NULL, err: File.join(@dir, "memcached-#{port}.log"))
      RealLogstash.wait_until(10, "memcached on port #{port}") do
        begin
          TCPSocket.new("127.0.0.1", port).close
          true
        rescue SystemCallError
          false
        end
      end
      "127.0.0.1:#{port}"
    end

    # Starts the MISP emulator serving fixture (a JSON file), or with
    # generate: N, N generated attributes; returns its URL.
    def misp_sim(fixture = nil, generate: nil)
      out = File.join(@dir, "misp-sim.out")
      data = generate ? ["--generate", generate.to_s, "--span-days", "300", "--seed", "1"] : ["--fixture", fixture]
      Processes.spawn({}, bin("misp-sim"), "--key", MISP_KEY, *data, "--listen", "127.0.0.1:0",
                      out: out, err: File.join(@dir, "misp-sim.err"))
      RealLogstash.wait_until(10, "misp-sim to listen") do
        File.file?(out) && File.read(out)[/^listening on (\S+)/, 1]
      end
    end

    # Runs misp-load once with the seed's config.yml pointed at memcached
    # ("host:port") and misp_url; returns its output.
    def misp_load(memcached, misp_url)
      host, port = memcached.split(":")
      config = File.join(@dir, "config-#{port}.yml")
      File.write(config, <<~YAML)
        # The seed's config.yml, pointed at this run's memcached and MISP emulator.
        memcached:
          host: #{host}
          port: #{port}
        misp:
          url: #{misp_url}
          ignore_cert_errors: false
          initial_event_timestamp: 365d
          refresh_event_timestamp: 1h
        hash:
          enabled: true
          expires: 0
        network:
          enabled: true
          expires: 0
        web:
          enabled: true
          expires: 0
      YAML
      RealLogstash.capture!(bin("misp-load"), "--config", config, env: { "MISP_KEY" => MISP_KEY })
    end
  end

  # A Logstash home of our own: a copy of the kit's, with the gem installed.
  class Home
    attr_reader :path

    # quick_start: the JVM compiles with its quick (C1) compiler only
    # (-XX:TieredStopAtLevel=1): Logstash starts in about half the time on a
    # busy 2-core machine and runs the same code; right for tests and the
    # demo, wrong for benchmarks (peak speed needs the full JIT).
    def self.install(gem, dir, quick_start: false)
      kit_home = RealLogstash.capture!(File.join(ROOT, "scripts/logstash-home")).lines.last.strip
      path = File.join(dir, "logstash")
      RealLogstash.capture!("cp", "-a", kit_home, path)
      home = new(path, quick_start: quick_start)
      home.console_log_to_stderr
      home.plugin!("install", "--local", "--no-verify", gem)
      home
    end

    def initialize(path, quick_start: false)
      @path = path
      @runs = 0
      @env = quick_start ? { "LS_JAVA_OPTS" => "-XX:TieredStopAtLevel=1" } : {}
    end

    # The environment of every command run in this home.
    def env(extra = {})
      RealLogstash.clean_env.merge(@env).merge(extra)
    end

    def console_log_to_stderr
      file = File.join(@path, "config/log4j2.properties")
      text = File.read(file)
      return if text.include?("appender.console.target")
      File.write(file, text.sub(/^appender\.console\.type = Console\n/) { |l| l + "appender.console.target = SYSTEM_ERR\n" })
    end

    # `bin/logstash-plugin args...`: [exit status, output].
    def plugin(*args)
      out, status = Open3.capture2e(env, "bin/logstash-plugin", *args, chdir: @path)
      [status, out]
    end

    def plugin!(*args)
      status, out = plugin(*args)
      raise Failure, "bin/logstash-plugin #{args.join(' ')} failed:\n#{out}" unless status.success?
      out
    end

    # Writes the pipeline: stdin (json_lines), the filter files in order,
    # output (stdout, json_lines by default); returns the config file's path.
    def write_config(filters, dir, output = OUTPUT)
      text = INPUT + filters.map { |f| "# ---- #{f}\n#{File.read(f)}\n" }.join + output
      conf = File.join(dir, "pipeline.conf")
      File.write(conf, text)
      conf
    end

    # `bin/logstash -t`: [exit status, output].
    def test_config(filters, env: {})
      dir = run_dir
      conf = write_config(filters, dir)
      out, status = Open3.capture2e(self.env(env), "bin/logstash", "-t", "-f", conf,
                                    "--api.enabled=false", "--path.data", File.join(dir, "data"), chdir: @path)
      [status, out]
    end

    # Starts `bin/logstash -f` on a pipeline of filters; settings are extra
    # command-line flags (e.g. ["--pipeline.workers", "2"]); env is seen by
    # the config's ${VAR} references. Feed it with Pipeline#send, or give
    # input_file (read as stdin; Logstash ends at its end). output: the
    # output section; output_file: where stdout goes (then no events are
    # read back). The HTTP API is off.
    def start(filters, settings: [], env: {}, input_file: nil, output: OUTPUT, output_file: nil)
      dir = run_dir
      Pipeline.new(self, write_config(filters, dir, output), dir, settings, self.env(env),
                   input_file: input_file, output_file: output_file)
    end

    # Runs a pipeline over events (Hashes or JSON lines) to its end.
    def run(filters, events, settings: [], env: {}, timeout: 300)
      pipeline = start(filters, settings: settings, env: env)
      pipeline.send(events)
      pipeline.finish(timeout)
      pipeline
    end

    private

    def run_dir
      @runs += 1
      dir = File.join(File.dirname(@path), "run-#{@runs}")
      FileUtils.mkdir_p(dir)
      dir
    end
  end

  # One running `bin/logstash`: events go in on stdin, come out on stdout
  # (collected by a reader thread); its log (stderr) goes to a file.
  class Pipeline
    attr_reader :log_path, :status

    def initialize(home, conf, dir, settings, env, input_file: nil, output_file: nil)
      @log_path = File.join(dir, "logstash.log")
      in_r, @in = input_file ? [input_file, nil] : IO.pipe
      out_r, out_w = output_file ? [nil, output_file] : IO.pipe
      @started_at = Time.now
      @pid = Processes.spawn(env, "bin/logstash", "-f", conf, "--path.data", File.join(dir, "data"),
                             "--api.enabled=false", *settings,
                             chdir: home.path, in: in_r, out: out_w, err: @log_path)
      in_r.close unless input_file
      out_w.close unless output_file
      @lock = Mutex.new
      @events = []
      @stray = []
      @reader = out_r && Thread.new do
        out_r.each_line do |line|
          @lock.synchronize do
            if line.start_with?("{")
              @events << JSON.parse(line)
            elsif !line.strip.empty? && LAUNCHER_NOTICES.none? { |n| line =~ n }
              @stray << line
            end
          end
        end
        out_r.close
      end
    end

    # Writes events (Hashes or JSON text lines) to stdin.
    def send(events)
      events.each { |e| @in.write((e.is_a?(String) ? e.chomp : JSON.generate(e)) + "\n") }
      @in.flush
      self
    end

    # The events read so far (a copy).
    def events
      @lock.synchronize { @events.dup }
    end

    # Lines on stdout that were not events (should be none).
    def stray_output
      @lock.synchronize { @stray.dup }
    end

    # Waits until the block, given the events so far, returns a true value.
    def wait_for(timeout, what)
      RealLogstash.wait_until(timeout, what) do
        raise Failure, "Logstash exited while waiting for #{what}:\n#{log_tail}" if exited?
        yield events
      end
    end

    # Waits for a log line matching pattern; returns it.
    def wait_for_log(pattern, timeout = 180)
      RealLogstash.wait_until(timeout, "a log line matching #{pattern.inspect}") do
        raise Failure, "Logstash exited while waiting for #{pattern.inspect}:\n#{log_tail}" if exited?
        log.find { |l| l =~ pattern }
      end
    end

    # Closes stdin (the stdin input ends, so does Logstash) and waits for
    # the exit; raises unless Logstash exits cleanly within timeout seconds.
    def finish(timeout = 300)
      @in.close if @in && !@in.closed?
      @status ||= Processes.wait(@pid, timeout)
      unless @status
        Processes.stop(@pid)
        raise Failure, "Logstash did not exit within #{timeout} s after its input ended:\n#{log_tail}"
      end
      @reader.join if @reader
      @finished_at = Time.now
      raise Failure, "Logstash exited with #{@status.exitstatus}:\n#{log_tail}" unless @status.success?
      self
    end

    # Stops Logstash early (TERM), e.g. after a failed assertion.
    def stop
      @in.close if @in && !@in.closed?
      Processes.stop(@pid)
    end

    def exited?
      return true if @status
      @status = Processes.wait(@pid, 0)
      !@status.nil?
    end

    # Seconds from the start of bin/logstash to its exit.
    def elapsed
      (@finished_at || Time.now) - @started_at
    end

    def log
      File.file?(@log_path) ? File.readlines(@log_path) : []
    end

    def log_tail(n = 40)
      log.last(n).join
    end

    # Lines of the log that mention misp (our logger is
    # logstash.filters.mispenrich; the test stanzas' ids contain "misp")
    # at WARN or ERROR, plus any other output on stderr (not a Logstash
    # log line: Java or JRuby warnings, stack traces) that mentions it.
    def misp_problems
      log.select do |l|
        next false unless l =~ /misp/i
        level = l[/\A\[[^\]]*\]\[(\w+)\s*\]/, 1]
        level ? %w[WARN ERROR FATAL].include?(level) : true
      end
    end
  end
end
