// MessageCatalog.cpp
