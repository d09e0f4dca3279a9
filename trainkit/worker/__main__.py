from .recipe import leave, main

leave(main())
