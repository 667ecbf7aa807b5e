# encoding: utf-8
# The gem as a user installs it: built from the gemspec with the native
# library that scripts/vendor placed, installed into a scratch gem home, and
# loaded from there (not from this checkout) by a separate JRuby.
require_relative "spec_helper"
require "tmpdir"
require "open3"
require "rbconfig"
require "rubygems/package"
require "fileutils"

RSpec.describe "the logstash-filter-misp_enrich gem" do
  root = File.expand_path("..", __dir__)

  before(:all) do
    @dir = Dir.mktmpdir("misp-enrich-gem")
    out, status = Open3.capture2e(RbConfig.ruby, "-S", "gem", "build", File.join(root, "logstash-filter-misp_enrich.gemspec"),
                                  "--output", File.join(@dir, "plugin.gem"), chdir: root)
    raise "gem build failed: #{out}" unless status.success?
    @spec = Gem::Package.new(File.join(@dir, "plugin.gem")).spec
  end
  after(:all) { FileUtils.rm_rf(@dir) }

  it "is a java-platform Logstash filter plugin depending on the plugin API" do
    expect(@spec.platform.to_s).to eq("java")
    expect(@spec.metadata).to eq("logstash_plugin" => "true", "logstash_group" => "filter")
    expect(@spec.dependencies.map(&:name)).to eq(["logstash-core-plugin-api"])
  end

  it "ships the plugin code, its docs and the native library, and nothing from spec/" do
    expect(@spec.files).to include("logstash-filter-misp/lib/logstash/filters/misp_enrich.rb",
                                   "logstash-filter-misp/lib/logstash/filters/misp_enrich/native.rb",
                                   "docs/index.asciidoc",
                                   "logstash-filter-misp/vendor/#{MispEnrich::Native.platform}/libmisp_enrich.so")
    expect(@spec.files.grep(%r{\Aspec/|stand_in|logstash_stand_in})).to eq([])
  end

  it "loads its native library from where it is installed" do
    home = File.join(@dir, "home")
    out, status = Open3.capture2e(RbConfig.ruby, "-S", "gem", "install", "--local", "--ignore-dependencies", "--no-document",
                                  "--install-dir", home, File.join(@dir, "plugin.gem"))
    raise "gem install failed: #{out}" unless status.success?
    # Logstash puts the plugin's require path on the load path; the plugin API
    # gem it depends on exists only inside Logstash, so it is not activated here.
    lib = Dir[File.join(home, "gems", "logstash-filter-misp_enrich-*", "logstash-filter-misp", "lib")].first
    script = 'require "logstash/filters/misp_enrich/native"; ' \
             'puts MispEnrich::Native.library_path; puts MispEnrich::Native.version'
    out, status = Open3.capture2e({ "MISP_ENRICH_LIB" => nil }, RbConfig.ruby, "-I", lib.to_s, "-e", script)
    expect(status.success?).to be(true), out
    path, version = out.lines.map(&:strip).last(2)
    expect(path).to start_with(home)
    expect(version).to eq(MispEnrich::Native.version)
  end
end
