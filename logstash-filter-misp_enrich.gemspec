# encoding: utf-8
# The Logstash plugin gem. Platform `java`: it runs only inside Logstash's
# JRuby and carries the native library of each platform present under
# logstash-filter-misp/vendor/<os>-<arch>/ (scripts/vendor builds them: this
# machine's by default, another Rust target's when named).
#
# The version is written in one place, the workspace's Cargo.toml. The gem
# does not carry Cargo.toml: scripts/vendor copies the version to
# logstash-filter-misp/vendor/VERSION, which the gem carries, together with
# this file (Logstash's `plugin install --local` reads the gemspec from the
# unpacked gem to find `require_paths`).
cargo_toml = File.expand_path("Cargo.toml", __dir__)
version_file = File.expand_path("logstash-filter-misp/vendor/VERSION", __dir__)
version = if File.file?(cargo_toml)
            File.read(cargo_toml)[/^version = "([^"]+)"/, 1]
          else
            File.read(version_file).strip
          end
if File.file?(cargo_toml) && (!File.file?(version_file) || File.read(version_file).strip != version)
  raise "logstash-filter-misp/vendor/VERSION is missing or not #{version}: run scripts/vendor (or `jruby -S rake gem`)"
end
# Each platform's library must be of this version too: a library copied in
# from an older build (another platform's, say) would ship under the new
# version. scripts/vendor writes vendor/<os>-<arch>/BUILD beside the library.
if File.file?(cargo_toml)
  Dir[File.expand_path("logstash-filter-misp/vendor/*/*misp_enrich.{so,dylib,dll}", __dir__)].each do |lib|
    build = File.join(File.dirname(lib), "BUILD")
    built = File.file?(build) ? File.read(build)[/^version (\S+)/, 1] : "unknown"
    next if built == version
    raise "#{lib} was built for version #{built}, not #{version}: rebuild it with `scripts/vendor RUST_TARGET` " \
          "or remove #{File.dirname(lib)}"
  end
end

Gem::Specification.new do |s|
  s.name          = "logstash-filter-misp_enrich"
  s.version       = version
  s.licenses      = ["MIT"]
  s.summary       = "Enriches events with MISP indicators (IPs, domains, URLs, hashes) from memcached, in one batched native call per Logstash batch"
  s.description   = "This gem is a Logstash plugin required to be installed on top of the Logstash core pipeline " \
                    "using $LS_HOME/bin/logstash-plugin install gemname. This gem is not a stand-alone program."
  s.authors       = ["misp-enrich developers"]
  s.homepage      = "https://github.com/misp-enrich/misp-enrich"
  s.platform      = "java"
  s.require_paths = ["logstash-filter-misp/lib"]
  s.files         = Dir["logstash-filter-misp/lib/**/*.rb",
                        "logstash-filter-misp/vendor/**/*",
                        "logstash-filter-misp_enrich.gemspec",
                        "docs/index.asciidoc",
                        "README.md", "CHANGELOG.md", "LICENSE"]
  s.metadata      = { "logstash_plugin" => "true", "logstash_group" => "filter" }

  s.add_runtime_dependency "logstash-core-plugin-api", ">= 1.60", "<= 2.99"
  # ecs_compatibility with the same meaning on every Logstash this accepts
  # (Logstash bundles it; `plugin install --local` finds it there).
  s.add_runtime_dependency "logstash-mixin-ecs_compatibility_support", "~> 1.3"
end
