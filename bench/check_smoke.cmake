# Smoke test of one warm_bench scenario (ctest, label bench): runs it with
# --smoke, then checks that its JSON parses and holds the figures it should,
# each a number above zero. Timings are never compared with goals here.
#
#   cmake -DBENCH=path/to/warm_bench -DSCENARIO=overhead -DJSON=out.json
#         -P check_smoke.cmake

foreach(var BENCH SCENARIO JSON)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_smoke.cmake needs -D${var}=...")
  endif()
endforeach()

# Per scenario: JSON paths below scenarios.<SCENARIO> that must be > 0.
set(positive_overhead
  "variants 0 qps_summary median" "variants 1 qps_summary median"
  "variants 2 qps_summary median" "ratio_warm_round_robin_summary median"
  "scrapes")
# Extra flags per scenario: overhead also runs its diagnostics scraper.
set(extra_overhead --scrape-ms 50)
set(positive_slow_backend
  "runs 0 variants 0 p50_ms median" "runs 0 variants 1 p50_ms median"
  "runs 0 variants 0 calls" "runs 0 variants 1 calls")
set(positive_failover
  "variants 0 calls_after_fault 0" "variants 1 calls_after_fault 0"
  "variants 2 calls_after_fault 0" "variants 3 calls_after_fault 0")
set(positive_dns_move "bound_s" "record_ttl_s" "reps")
set(positive_warm_start
  "cases 0 first_ms_summary median" "cases 2 first_ms_summary median"
  "cases 0 steady_ms_summary median")
set(positive_scale
  "variants 0 ready_s median" "variants 1 ready_s median"
  "variants 2 ready_s median" "channels")
set(positive_wait_for_ready
  "channels 0 calls" "channels 1 calls" "channels 2 calls" "callers")
set(positive_detect
  "rows 0 out_of_picker_s 0" "rows 2 out_of_picker_s 0" "reps")
if(NOT DEFINED positive_${SCENARIO})
  message(FATAL_ERROR "check_smoke.cmake: no checks for \"${SCENARIO}\"")
endif()

file(REMOVE "${JSON}")
execute_process(
  COMMAND "${BENCH}" --scenario "${SCENARIO}" --smoke --json "${JSON}"
          ${extra_${SCENARIO}}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "warm_bench --scenario ${SCENARIO} --smoke: ${result}")
endif()
file(READ "${JSON}" json)
string(JSON machine_grpc ERROR_VARIABLE error GET "${json}" machine grpc)
if(error)
  message(FATAL_ERROR "${JSON}: ${error}")
endif()
foreach(path IN LISTS positive_${SCENARIO})
  separate_arguments(keys UNIX_COMMAND "${path}")
  string(JSON value ERROR_VARIABLE error GET "${json}" scenarios ${SCENARIO}
         ${keys})
  if(error)
    message(FATAL_ERROR "${JSON}: scenarios.${SCENARIO} ${path}: ${error}")
  endif()
  if(NOT value GREATER 0)
    message(FATAL_ERROR
            "${JSON}: scenarios.${SCENARIO} ${path} is ${value}, not > 0")
  endif()
endforeach()
message(STATUS "${SCENARIO}: JSON valid, figures present (gRPC ${machine_grpc})")
