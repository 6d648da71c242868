from tests.real.workload_exporter.exporter import main

main()
