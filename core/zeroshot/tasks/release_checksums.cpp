#include "zeroshot/tasks/release_checksums.h"

#include <fmt/format.h>

#include <array>

#include "util/sha256.h"

namespace qlab {

namespace {
struct ReleaseChecksum {
  const char* relative_path;  // under the data directory
  const char* sha256;
  const char* release;
};

constexpr const char* mmlu = "the cais/mmlu test split as CSV (a derived copy checked against lm-eval v0.3.0)";

// From datasets/zeroshot/SHA256SUMS and PROVENANCE.md: upstream files whose sha256 a third
// party published, and the derived copies whose content the harness's own hashes verified.
constexpr std::array known = {
    ReleaseChecksum{"lambada_openai/lambada_test.jsonl",
                    "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226",
                    "OpenAI's lambada_test.jsonl (the copy lm-eval pins)"},
    ReleaseChecksum{"piqa/dev.jsonl", "a73f46cb5d72b2cc399522a79f27728a429d9b89d9a236243fcfda8c02588d54",
                    "PIQA's dev.jsonl"},
    ReleaseChecksum{"piqa/dev-labels.lst", "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb",
                    "PIQA's dev-labels.lst"},
    ReleaseChecksum{"arc/ARC-Easy-Test.jsonl", "ce32a0774b4beb1977d2c6b16dda5dd2b24fdc9c7f506882c452678676bd09be",
                    "ARC-V1-Feb2018's ARC-Easy-Test.jsonl"},
    ReleaseChecksum{"arc/ARC-Challenge-Test.jsonl",
                    "9fa8ffb3e3a1f88cb302d53dd95aae81e39209ad9bcf974376b319d8fd35717c",
                    "ARC-V1-Feb2018's ARC-Challenge-Test.jsonl"},
    ReleaseChecksum{"boolq/val.jsonl", "21acbfbd1e7908fddd9e626bc2a6101c5a5430bda3fbf74985b979af7a63b989",
                    "SuperGLUE's BoolQ val.jsonl"},
    ReleaseChecksum{"winogrande/dev.jsonl", "1aeac79cf46a3dcbe59a71ca7e5372a1490cde2b4ae2387dc56f00378104d2e8",
                    "WinoGrande 1.1's dev.jsonl"},
    ReleaseChecksum{"winogrande/dev-labels.lst", "5ae1e30f52a50b880515685dcfae7d57649cce256d375947cdd02f687de7e6ba",
                    "WinoGrande 1.1's dev-labels.lst"},
    ReleaseChecksum{"winogrande/winogrande_xl_validation.llm-foundry.jsonl",
                    "ea1592526f3bfdd0948ed3acb1b4dfa3f83d23698917118688ee1df7f8d4b8d7",
                    "llm-foundry's winogrande.jsonl (a derived copy checked against lm-eval v0.3.0)"},
    ReleaseChecksum{"hellaswag/hellaswag_val.jsonl",
                    "0aa3b88843990f3f10a97b9575c94d7b71fb2205240ba04ae4884d9e9c992588",
                    "HellaSwag's hellaswag_val.jsonl"},
    ReleaseChecksum{"mmlu/test/abstract_algebra_test.csv", "afdfc6f71eb42297a51f53bd221429671a4065a6425bd7631acb84fef011bfd4", mmlu},
    ReleaseChecksum{"mmlu/test/anatomy_test.csv", "b27ce42f40482ba735cf0de8e8bbba3382d506c099d8483c55e9cacdac4e3eec", mmlu},
    ReleaseChecksum{"mmlu/test/astronomy_test.csv", "1008ecdf7f88a336001b04f739f3fcfff72b3e15fb746880ace2d05f0002c957", mmlu},
    ReleaseChecksum{"mmlu/test/business_ethics_test.csv", "7ce6063b0ed2ba08ac51cc94be1708ce91aeecd17f71cabbb2f86b4e80f3876a", mmlu},
    ReleaseChecksum{"mmlu/test/clinical_knowledge_test.csv", "9ba57061f15ae7263a12eeb413b73d876038e0ce21734ffce411e1ae22662737", mmlu},
    ReleaseChecksum{"mmlu/test/college_biology_test.csv", "872bae5fe76cecb083603a7ba95adc436a8e345f50c5ee232cc8bfa9f9f56713", mmlu},
    ReleaseChecksum{"mmlu/test/college_chemistry_test.csv", "6335fe0f7da7a3ec76a9067869445253111080261df1c560a2527df01f34ae67", mmlu},
    ReleaseChecksum{"mmlu/test/college_computer_science_test.csv", "f06e071452389e4a9f0aa7c5bc07401b282ffd659f9ec08c2d301b1fca471024", mmlu},
    ReleaseChecksum{"mmlu/test/college_mathematics_test.csv", "2929eb3851fa6f37de8188f0a7fa817bec44fb5f5a04efa06f89ea272eae2f0b", mmlu},
    ReleaseChecksum{"mmlu/test/college_medicine_test.csv", "65876236acf78e813e62b78cdc2217c2651785324b8c51148aaffa6d89436d0d", mmlu},
    ReleaseChecksum{"mmlu/test/college_physics_test.csv", "3f67202a7a62da0f0ab3028e0a0cf26a3cffc041283044f51f3e058258eab281", mmlu},
    ReleaseChecksum{"mmlu/test/computer_security_test.csv", "f4b8b8f107144acd0c2b343553986c161a759cd459706cb72f9bb72752655162", mmlu},
    ReleaseChecksum{"mmlu/test/conceptual_physics_test.csv", "7186a0cdcd18dff2183dbd26d44f2d59d01f42687092e1229088735d508c06e1", mmlu},
    ReleaseChecksum{"mmlu/test/econometrics_test.csv", "13f21181bb3a26bfd290284ab80850f9c1e1ba90f00df6f17112b8c68e934cee", mmlu},
    ReleaseChecksum{"mmlu/test/electrical_engineering_test.csv", "d78bba02efa107c61a82f2f82ee93e99366f5626fdf772a03eb3b749073cd1c1", mmlu},
    ReleaseChecksum{"mmlu/test/elementary_mathematics_test.csv", "701d8bbc120fd210a309f5e43c9cbfca8e1f01f6b9a26f43f669f0d29acc45ef", mmlu},
    ReleaseChecksum{"mmlu/test/formal_logic_test.csv", "c72df82993166fc1c9b3f145964b1b4791ce512c0d3f22919e9b46aaea17ef4b", mmlu},
    ReleaseChecksum{"mmlu/test/global_facts_test.csv", "b80c9b31bc56727ebb3f1f980fbf40dbbd48565f609d1be9642ebe10a1c747a2", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_biology_test.csv", "4ffe58996b33947fae8f374124c20f95560b773cbd3c9cafea0a3e90bcf4140b", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_chemistry_test.csv", "42dcc80210a4cd861529e2cbaa04584d1d1cfd32d5515b385343df724d37408f", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_computer_science_test.csv", "3865e92ef308c42ad7d653301647c6cd5bfa6d67f20c9fbbdfe14c2c1eb5bbbc", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_european_history_test.csv", "696d4b82f27792ac04915a7f6822370b4a42133fcd83c9a13fe5d74aaba37fbb", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_geography_test.csv", "4c0c06e32b73ec3f5b55bdab2a124b3b9736e888d2edadc6f40d6172052f7507", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_government_and_politics_test.csv", "a3e20fbcff3bb0bdc613db7b56257c4e72d83d6e04e60db25c84e81d8c70a7d2", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_macroeconomics_test.csv", "a06fba67bf6b92e5174d049fdb484df8c6e663586a910e725e195ebf43116b9c", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_mathematics_test.csv", "56b119f139ba07c0e2a9616e60397e3415cdca1532ae217ac6d8fd1bddfc96f7", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_microeconomics_test.csv", "a6acbf0d864e51540e0c219e433dc0f54a56d8a35255bf294d4de8d09b7ef00d", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_physics_test.csv", "e5258c55a5e67a62c26fa0d2564b5263b69d38810e51204c59017789a771e253", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_psychology_test.csv", "c7aabf2ccfee7489bf1494cfa1504a679eb69e27caa7d64bd1e9e63cff5c3fe9", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_statistics_test.csv", "c305647bc50d6e049ab0d33e79a3455a964421a54023ba14fa6b3c72e19a8d1d", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_us_history_test.csv", "cd6c60e147dd70dde6b523c6ca0be07a78f7a1be7492278aa06641bc1f12680e", mmlu},
    ReleaseChecksum{"mmlu/test/high_school_world_history_test.csv", "cb083c69f1a4efb316ea8645899872d2528d55a7bf7cad1d625fcf369db0e943", mmlu},
    ReleaseChecksum{"mmlu/test/human_aging_test.csv", "ce44b96c0d5bb9f0491f34a6b30d8feb2e82092e5f094990a9632b67bf75277b", mmlu},
    ReleaseChecksum{"mmlu/test/human_sexuality_test.csv", "98af8223edc66de68cfd9dfb18e19a65b94ad1559204f3f239ebb227112732f6", mmlu},
    ReleaseChecksum{"mmlu/test/international_law_test.csv", "e4fb345f044b54ef01ddda7126b61c328202cf0160e8f27831f082cc63da8ed9", mmlu},
    ReleaseChecksum{"mmlu/test/jurisprudence_test.csv", "26780d8e35636af29b00b26b808d43aa466d9c06fa7b27a9b4c753b335883286", mmlu},
    ReleaseChecksum{"mmlu/test/logical_fallacies_test.csv", "f40e1e6098a69cd8511c009f024c7d7caaad4a2f7cb9501be5a377167a5def60", mmlu},
    ReleaseChecksum{"mmlu/test/machine_learning_test.csv", "50d163266dbc8672b8097c32a4765ff4a5e8767ac4a8971e70ddccbd5b817bd3", mmlu},
    ReleaseChecksum{"mmlu/test/management_test.csv", "423261b2633e20df5b4febfba4ecc7366917cdbabdb7e3ede4b1be98adf5dce5", mmlu},
    ReleaseChecksum{"mmlu/test/marketing_test.csv", "1853316726e9fa72eba8d74a67fc45da9a2c7ed1cb892496359d87426a7f7c8a", mmlu},
    ReleaseChecksum{"mmlu/test/medical_genetics_test.csv", "b330e63b2e60345285490ff495d5f4aea1981d738cc303c559903ec1c12238c1", mmlu},
    ReleaseChecksum{"mmlu/test/miscellaneous_test.csv", "58f67b35c1890985ccdd1c6b4e9a4e8bfd4f8e0e5fadf5726860ae789c65d5e8", mmlu},
    ReleaseChecksum{"mmlu/test/moral_disputes_test.csv", "2f3379380a469cbc2ed5d03372bae01306a19c65d053cc638435b92808b439f2", mmlu},
    ReleaseChecksum{"mmlu/test/moral_scenarios_test.csv", "1776d1bf56388452ef80112bb1b5e94a6017abcb79b11540927e98f92cee8fba", mmlu},
    ReleaseChecksum{"mmlu/test/nutrition_test.csv", "acb668e8064655eab8869d8cc65ebc40af39acfe6eb40e0e1a83dfb87bffdc2a", mmlu},
    ReleaseChecksum{"mmlu/test/philosophy_test.csv", "74576271e2f9e3a01b4c437209323e833fb09a4e3a79217b16caa65e94ee8ba0", mmlu},
    ReleaseChecksum{"mmlu/test/prehistory_test.csv", "5ff0349229f3bddf399ec0bf2c28c46a32d18997dd4bd93436702ba8bfccba78", mmlu},
    ReleaseChecksum{"mmlu/test/professional_accounting_test.csv", "728c6030e2e2e882a73305279b149b34b44c8f0203bdf6c5c75d48602bfb883a", mmlu},
    ReleaseChecksum{"mmlu/test/professional_law_test.csv", "59884277f245b8332d6d02ba16fdefd7ca5bdc7ed51dca5f19147094f087c28d", mmlu},
    ReleaseChecksum{"mmlu/test/professional_medicine_test.csv", "3490aa679090fdfd94f1a887219f2a85bb4028f4d0e6d49d6242fb9a99b846a1", mmlu},
    ReleaseChecksum{"mmlu/test/professional_psychology_test.csv", "5a3847f67470bff48c551dc80ac2a272a4378311d988ba5cad6325ba5d94e779", mmlu},
    ReleaseChecksum{"mmlu/test/public_relations_test.csv", "6f12b33facda9e0ab191debe3fb638d86c61c66a6205ed333b0890815f53b9be", mmlu},
    ReleaseChecksum{"mmlu/test/security_studies_test.csv", "df86d642637dcada2f62ccb793739d0d6384552616c11bb3941d201cf3ab4ef1", mmlu},
    ReleaseChecksum{"mmlu/test/sociology_test.csv", "7ee6baaa0082e04a03a64a722ab50b495edb49c26306e850a49e26b1a4edc88d", mmlu},
    ReleaseChecksum{"mmlu/test/us_foreign_policy_test.csv", "5fbff75d8a6f1bfa1e4ca696a2db9ffbf11e3b97809ab97c00c813b96bd27e08", mmlu},
    ReleaseChecksum{"mmlu/test/virology_test.csv", "cfb95d550d800b600a1d802bdb4ab4b5018b168d74f87af5fdbea5b623d279c1", mmlu},
    ReleaseChecksum{"mmlu/test/world_religions_test.csv", "203c71d35b4d667a4010b032ad57cc75a561209c94e2235eb5c549310bf23789", mmlu},
};
}  // namespace

std::string checksum_note(const std::string& relative_path, std::string_view bytes) {
  for (const ReleaseChecksum& entry : known) {
    if (relative_path != entry.relative_path) continue;
    const std::string actual = sha256_hex(bytes);
    if (actual == entry.sha256) return fmt::format("verified: {} sha256 matches", entry.release);
    return fmt::format("differs from {} (sha256 {})", entry.release, actual);
  }
  return "no known checksum";
}

}  // namespace qlab
