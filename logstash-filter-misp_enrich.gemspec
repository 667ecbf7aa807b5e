# encoding: utf-8
# The Logstash plugin gem. Platform `java`: it runs only inside Logstash's
# JRuby and carries the native library for each platform it was built on,
# under logstash-filter-misp/vendor/<os>-<arch>/ (see scripts/vendor).
version = File.read(File.expand_path("Cargo.toml", __dir__))[/^version = "([^"]+)"/, 1]

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
                        "docs/index.asciidoc",
                        "README.md", "CHANGELOG.md", "LICENSE"]
  s.metadata      = { "logstash_plugin" => "true", "logstash_group" => "filter" }

  s.add_runtime_dependency "logstash-core-plugin-api", ">= 1.60", "<= 2.99"
end
