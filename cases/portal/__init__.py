"""End users and reporters without accounts: private status links and the pages behind them."""
