from tests.real.capi_provider.provider import main

main()
