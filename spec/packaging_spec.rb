# encoding: utf-8
# The gem as a user installs it: built from the gemspec with the native
# library that scripts/vendor placed, installed into a scratch gem home, and
# loaded from there (not from this checkout) by a separate JRuby. Then what
# makes it load on the hosts users run Logstash on (issue 12): the vendored
# library and the release misp-load need nothing newer than glibc 2.17, and
# a platform the gem has no library for gets a one-line answer.
require_relative "spec_helper"
require "tmpdir"
require "open3"
require "rbconfig"
require "rubygems/package"
require "fileutils"

RSpec.describe "the logstash-filter-misp_enrich gem" do
  root = File.expand_path("..", __dir__)
  native_rb = "logstash-filter-misp/lib/logstash/filters/misp_enrich/native.rb"

  # Builds the gem from the tree at `dir` into `out` and installs it into
  # `out`/home; returns [the gem's spec, the installed require path].
  def build_and_install(dir, out)
    gem = File.join(out, "plugin.gem")
    log, status = Open3.capture2e(RbConfig.ruby, "-S", "gem", "build", File.join(dir, "logstash-filter-misp_enrich.gemspec"),
                                  "--output", gem, chdir: dir)
    raise "gem build failed: #{log}" unless status.success?
    home = File.join(out, "home")
    log, status = Open3.capture2e(RbConfig.ruby, "-S", "gem", "install", "--local", "--ignore-dependencies", "--no-document",
                                  "--install-dir", home, gem)
    raise "gem install failed: #{log}" unless status.success?
    # Logstash puts the plugin's require path on the load path; the plugin API
    # gem it depends on exists only inside Logstash, so it is not activated here.
    lib = Dir[File.join(home, "gems", "logstash-filter-misp_enrich-*", "logstash-filter-misp", "lib")].first
    [Gem::Package.new(gem).spec, lib]
  end

  # Runs `script` in a new JRuby with the installed gem's code on the load
  # path, as if FFI reported `platform` ("linux-aarch64"): JRuby's own
  # FFI::Platform constants are replaced before the plugin reads them.
  # Returns [output, success?].
  def run_installed(lib, script, platform: nil)
    prelude = ""
    if platform
      os, arch = platform.split("-", 2)
      prelude = 'require "ffi"; ' \
                "FFI::Platform.send(:remove_const, :OS); FFI::Platform.const_set(:OS, #{os.dump}); " \
                "FFI::Platform.send(:remove_const, :ARCH); FFI::Platform.const_set(:ARCH, #{arch.dump}); "
    end
    out, status = Open3.capture2e({ "MISP_ENRICH_LIB" => nil }, RbConfig.ruby, "-I", lib.to_s,
                                  "-e", prelude + 'require "logstash/filters/misp_enrich/native"; ' + script)
    [out, status.success?]
  end

  before(:all) do
    @dir = Dir.mktmpdir("misp-enrich-gem")
    @spec, @lib = build_and_install(root, @dir)
  end
  after(:all) { FileUtils.rm_rf(@dir) }

  it "is a java-platform Logstash filter plugin depending on the plugin API" do
    expect(@spec.platform.to_s).to eq("java")
    expect(@spec.metadata).to eq("logstash_plugin" => "true", "logstash_group" => "filter")
    expect(@spec.dependencies.map(&:name)).to eq(["logstash-core-plugin-api", "logstash-mixin-ecs_compatibility_support"])
  end

  it "ships the plugin code, its docs and the native library, and nothing from spec/" do
    expect(@spec.files).to include("logstash-filter-misp/lib/logstash/filters/misp_enrich.rb",
                                   native_rb,
                                   "docs/index.asciidoc",
                                   "logstash-filter-misp/vendor/#{MispEnrich::Native.platform}/libmisp_enrich.so",
                                   "logstash-filter-misp/vendor/#{MispEnrich::Native.platform}/BUILD")
    expect(@spec.files.grep(%r{\Aspec/|stand_in|logstash_stand_in})).to eq([])
  end

  it "loads its native library from where it is installed" do
    out, ok = run_installed(@lib, "puts MispEnrich::Native.library_path; puts MispEnrich::Native.version")
    expect(ok).to be(true), out
    path, version = out.lines.map(&:strip).last(2)
    expect(path).to start_with(File.join(@dir, "home"))
    expect(version).to eq(MispEnrich::Native.version)
  end

  it "carries its Java part and binds it to the native library where it is installed" do
    expect(@spec.files).to include("logstash-filter-misp/vendor/java/misp_enrich.jar")
    out, ok = run_installed(@lib, "MispEnrich::Native::JVM.load!; puts MispEnrich::Native::JVM::JAR; " \
                                  "puts Java::OrgMispenrichLogstash::NativeLookup.isLoaded")
    expect(ok).to be(true), out
    jar, loaded = out.lines.map(&:strip).last(2)
    expect(jar).to start_with(File.join(@dir, "home"))
    expect(loaded).to eq("true")
  end

  context "on a platform it carries no library for" do
    it "fails to load with one line naming the platform, what it carries and how to build the missing one" do
      out, ok = run_installed(@lib, "begin; MispEnrich::Native.load!; rescue MispEnrich::Native::LoadError => e; " \
                                    "puts e.message; exit 3; end",
                              platform: "linux-aarch64")
      expect(ok).to be(false)
      lines = out.lines.map(&:chomp).reject(&:empty?)
      expect(lines.size).to eq(1), out
      expect(lines.first).to include("no native library for linux-aarch64",
                                     "this gem carries: #{MispEnrich::Native.platform}",
                                     "scripts/vendor aarch64-unknown-linux-gnu")
    end
  end

  context "with libraries for several platforms" do
    # A copy of the gem's tree with a second platform's library beside this
    # one's (a copy of this one's, built for this version): the layout a gem
    # built with `scripts/vendor aarch64-unknown-linux-gnu` has.
    before(:all) do
      @multi = File.join(@dir, "multi")
      tree = File.join(@multi, "tree")
      FileUtils.mkdir_p(tree)
      %w[logstash-filter-misp_enrich.gemspec Cargo.toml README.md CHANGELOG.md LICENSE].each do |f|
        FileUtils.cp(File.join(root, f), tree) if File.file?(File.join(root, f))
      end
      FileUtils.mkdir_p(File.join(tree, "docs"))
      FileUtils.cp(File.join(root, "docs/index.asciidoc"), File.join(tree, "docs"))
      FileUtils.cp_r(File.join(root, "logstash-filter-misp"), tree)
      vendor = File.join(tree, "logstash-filter-misp", "vendor")
      FileUtils.cp_r(File.join(vendor, MispEnrich::Native.platform), File.join(vendor, "linux-aarch64"))
      @tree = tree
      @multi_spec, @multi_lib = build_and_install(tree, @multi)
    end

    it "carries each platform's library in its own vendor/<os>-<arch>/ directory" do
      libs = @multi_spec.files.grep(%r{/vendor/[^/]+/libmisp_enrich\.so\z}).sort
      expect(libs).to eq(["logstash-filter-misp/vendor/linux-aarch64/libmisp_enrich.so",
                          "logstash-filter-misp/vendor/#{MispEnrich::Native.platform}/libmisp_enrich.so"].sort)
    end

    it "loads the library of the platform it runs on" do
      out, ok = run_installed(@multi_lib, "puts MispEnrich::Native.library_path; puts MispEnrich::Native.version",
                              platform: "linux-aarch64")
      expect(ok).to be(true), out
      expect(out.lines.map(&:strip).last(2).first).to end_with("/vendor/linux-aarch64/libmisp_enrich.so")
    end

    it "lists them all when the running platform is not among them" do
      out, = run_installed(@multi_lib, "begin; MispEnrich::Native.load!; rescue MispEnrich::Native::LoadError => e; puts e.message; end",
                           platform: "darwin-aarch64")
      expect(out.strip).to include("no native library for darwin-aarch64 (this gem carries: linux-aarch64, linux-x86_64)",
                                   "scripts/vendor aarch64-apple-darwin")
    end

    it "refuses to build when a platform's library is of another version" do
      build = File.join(@tree, "logstash-filter-misp", "vendor", "linux-aarch64", "BUILD")
      File.write(build, "version 0.0.1\nrust_target aarch64-unknown-linux-gnu.2.17\n")
      out, status = Open3.capture2e(RbConfig.ruby, "-S", "gem", "build", "logstash-filter-misp_enrich.gemspec",
                                    "--output", File.join(@multi, "stale.gem"), chdir: @tree)
      expect(status.success?).to be(false)
      expect(out).to include("linux-aarch64/libmisp_enrich.so was built for version 0.0.1")
    end
  end

  # What the dynamic loader of the oldest supported host must provide. The
  # floor is glibc 2.17 (RHEL/CentOS 7); GCC_ versions are those of that
  # platform's libgcc_s (GCC 4.8.5: GCC_4.8.0 and older). Any other
  # versioned dependency (GLIBC_PRIVATE, GLIBCXX_, ...) fails.
  describe "glibc floor", if: RbConfig::CONFIG["host_os"] =~ /linux/ do
    ceilings = { "GLIBC" => Gem::Version.new("2.17"), "GCC" => Gem::Version.new("4.8.0") }
    allowed_needed = /\A(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])\z/

    # { "GLIBC_2.34" => ["pthread_create", ...] } of the file's dynamic symbols.
    def symbol_versions(file)
      out, status = Open3.capture2e("objdump", "-T", file)
      raise "objdump -T #{file} failed (binutils installed? scripts/setup installs it): #{out}" unless status.success?
      out.lines.each_with_object(Hash.new { |h, k| h[k] = [] }) do |line, acc|
        # "0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.2.5) getenv"
        next unless line =~ /\A\h{8,}\s/ && line =~ /\s\(?([A-Z][A-Z0-9]*_[\w.]+)\)?\s+(\S+)\s*\z/
        version, name = Regexp.last_match(1), Regexp.last_match(2)
        acc[version] << name unless version == "Base"
      end
    end

    def needed(file)
      out, status = Open3.capture2e("readelf", "-d", file)
      raise "readelf -d #{file} failed: #{out}" unless status.success?
      out.scan(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/).flatten
    end

    def too_new(file, ceilings)
      symbol_versions(file).reject do |version, _|
        ns, number = version.split("_", 2)
        ceilings.key?(ns) && number =~ /\A\d+(\.\d+)*\z/ && Gem::Version.new(number) <= ceilings[ns]
      end
    end

    shared_examples "a binary for every glibc from 2.17" do
      it "needs no GLIBC_ version above 2.17 and no GCC_ version above 4.8.0" do
        versions = symbol_versions(binary)
        expect(versions.keys.grep(/\AGLIBC_/)).not_to be_empty, "no GLIBC_ symbol versions read from #{binary}"
        offending = too_new(binary, ceilings).map { |v, names| "#{v} (#{names.uniq.first(5).join(', ')})" }
        expect(offending).to eq([]), "#{binary} needs: #{offending.join('; ')}"
      end

      it "links only the C runtime's own libraries" do
        expect(needed(binary)).to include("libc.so.6")
        expect(needed(binary).reject { |lib| lib =~ allowed_needed }).to eq([])
      end
    end

    # This pins the check itself: it must see what a program linked on this
    # machine (Debian bookworm, glibc 2.36) needs.
    it "reads symbol versions and flags a program linked against this machine's glibc" do
      host = "/bin/ls"
      expect(symbol_versions(host).keys).to include("GLIBC_2.2.5")
      expect(too_new(host, ceilings).keys.grep(/\AGLIBC_2\.(1[89]|[2-9]\d)\z/)).not_to be_empty
    end

    describe "the vendored native library" do
      let(:binary) { File.join(root, "logstash-filter-misp", "vendor", MispEnrich::Native.platform, "libmisp_enrich.so") }

      it_behaves_like "a binary for every glibc from 2.17"

      it "is the one the gem ships" do
        expect(@spec.files).to include(binary.sub("#{root}/", ""))
      end
    end

    describe "the release misp-load" do
      # scripts/build-misp-load prints the path it wrote (cargo makes it a
      # no-op when nothing changed).
      before(:all) do
        out, status = Open3.capture2e(File.join(root, "scripts", "build-misp-load"), chdir: root)
        raise "scripts/build-misp-load failed: #{out}" unless status.success?
        @misp_load = File.join(root, out.lines.last.strip)
      end
      let(:binary) { @misp_load }

      it_behaves_like "a binary for every glibc from 2.17"

      it "runs here" do
        out, status = Open3.capture2e(@misp_load, "--version")
        expect(status.success?).to be(true), out
        expect(out).to start_with("misp-load ")
      end
    end
  end
end
